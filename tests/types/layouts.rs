//! layouts.rs - Rust layouts for memprof type.  rustc reorders struct
//! fields (DWARF lists them in declaration order with out-of-order offsets)
//! and describes enums with DW_TAG_variant_part, niche discriminants
//! included: the two things pahole 1.24 gets wrong.  The program prints
//! the true layout (std::mem::size_of, std::mem::offset_of!) as JSON, one
//! object per line, and the tests compare memprof against it.  Crate name:
//! `layouts`, so types are `layouts::Mixed` and so on.
#![allow(dead_code)]

use std::mem::{offset_of, size_of};

pub struct Mixed {
    pub a: u8,
    pub b: u64,
    pub c: u16,
    pub d: u32,
    pub e: u8,
}

pub struct Pair<A, B> {
    pub first: A,
    pub second: B,
}

pub struct Wrapper {
    pub flag: bool,
    pub pair: Pair<u8, u64>,
    pub names: Vec<String>,
    pub maybe: Option<Box<u32>>,
    pub small: u16,
}

pub enum Shape {
    Empty,
    Circle(f64),
    Label(String),
    Rect { w: u32, h: u32 },
}

pub enum Tiny {
    A,
    B(u8),
}

pub static mut INSTANCE: Option<Wrapper> = None;

macro_rules! fields {
    ($t:ty, $name:expr, $($f:ident),*) => {{
        let mut s = format!("{{\"name\":\"{}\",\"size\":{},\"fields\":{{", $name, size_of::<$t>());
        let mut first = true;
        $(
            if !first { s.push(','); }
            first = false;
            s.push_str(&format!("\"{}\":{}", stringify!($f), offset_of!($t, $f)));
        )*
        let _ = first;
        s.push_str("}}");
        println!("{}", s);
    }};
}

fn main() {
    fields!(Mixed, "layouts::Mixed", a, b, c, d, e);
    fields!(Pair<u8, u64>, "layouts::Pair<u8, u64>", first, second);
    fields!(Wrapper, "layouts::Wrapper", flag, pair, names, maybe, small);
    println!("{{\"name\":\"layouts::Shape\",\"size\":{},\"fields\":{{}}}}", size_of::<Shape>());
    println!("{{\"name\":\"layouts::Tiny\",\"size\":{},\"fields\":{{}}}}", size_of::<Tiny>());
    println!("{{\"name\":\"core::option::Option<alloc::boxed::Box<u32, alloc::alloc::Global>>\",\"size\":{},\"fields\":{{}}}}",
             size_of::<Option<Box<u32>>>());
    println!("{{\"name\":\"alloc::vec::Vec<alloc::string::String, alloc::alloc::Global>\",\"size\":{},\"fields\":{{}}}}",
             size_of::<Vec<String>>());
    unsafe {
        INSTANCE = Some(Wrapper {
            flag: true,
            pair: Pair { first: 1, second: 2 },
            names: vec!["x".to_string()],
            maybe: Some(Box::new(7)),
            small: 3,
        });
        let shapes = [Shape::Empty, Shape::Circle(1.0), Shape::Label("l".into()), Shape::Rect { w: 1, h: 2 }];
        let tiny = [Tiny::A, Tiny::B(1)];
        let mixed = Mixed { a: 1, b: 2, c: 3, d: 4, e: 5 };
        std::hint::black_box(&mixed);
        std::hint::black_box(&shapes);
        std::hint::black_box(&tiny);
        std::hint::black_box(&*std::ptr::addr_of!(INSTANCE));
    }
}
