//! zoo.rs - one field of each common Rust std container, with known element
//! counts, kept in `static mut ZOO: Option<Zoo>` (DWARF: variable `ZOO` in
//! namespace `zoo`, i.e. `zoo::ZOO`), for checking how memprof reads Rust
//! containers and enum layouts.
//!
//! Fields of `Zoo` after the build step:
//!   vec_u32        Vec<u32>                  1000 elements 0..999, capacity 1024 (push doubling)
//!   vec_string     Vec<String>               64 elements, capacity 64; element i is
//!                                            "string-number-NNN" (17 bytes, capacity 17)
//!   string         String                    100 bytes 'S', capacity 128 (with_capacity)
//!   boxed          Box<Point3>               one 24-byte Point3 {1.0, 2.0, 3.0}
//!   hash_map       HashMap<String, u64>      200 entries "key-NNN" (7 bytes, capacity 7) -> NNN,
//!                                            capacity 224, 256 buckets (std RandomState:
//!                                            bucket order differs between runs, sizes do not)
//!   btree_map      BTreeMap<u32, String>     100 entries k -> "value-k" for k in 0..100
//!                                            (strings with capacity == len)
//!   rc             Rc<Node>                  strong count 2 (rc_alias is the other owner)
//!   rc_alias       Rc<Node>                  same allocation as rc
//!   rc_weak        rc::Weak<Node>            a weak pointer to the same allocation
//!   arc            Arc<Node>                 strong count 2 (arc_alias is the other owner)
//!   arc_alias      Arc<Node>                 same allocation as arc
//!   arc_weak       sync::Weak<Node>          a weak pointer to the same allocation
//!   vec_deque      VecDeque<Point3>          50 elements, wrapped around the ring buffer
//!                                            (head at index 16 of a 64-slot buffer)
//!   some_box       Option<Box<Node>>         Some (niche: a null pointer means None)
//!   none_box       Option<Box<Node>>         None
//!   shapes         Vec<Shape>                8 elements, two of each Shape variant:
//!                                            Empty, Circle, Label(String), Polygon(Vec<(i32, i32)>)
//!   messages       Vec<Message>              6 elements: Quit, Move, Write(String),
//!                                            ChangeColor, Batch(Vec<u8>), Nested(Box<Message>)
//!
//! `Node` holds an id, a `String` name and a `Vec<u64>` of 10 values.
//!
//! Expected `memprof logical zoo::ZOO` numbers for the shared pointers: when
//! MEMPROF_EXPECTED names a file, the program writes there, before holding,
//! one line per Rc/Arc/Weak field ("field LOGICAL ALLOCATED BLOCKS"): the
//! first pointer to an allocation counts its RcInner/ArcInner (two counts
//! and the Node, from size_of) and the Node's own blocks, with
//! malloc_usable_size of each; the others only their own 8 bytes.
//! The program prints nothing except the "ready" line in --hold mode.
//!
//! valgrind --leak-check=full: no leaks (ZOO is reset to None before exit).
//! With rustc 1.95 one block of 544 bytes is still reachable: the Rust
//! runtime's own stack-overflow thread-info map, allocated before main()
//! (rustc 1.63 leaves nothing).

// The data exists to be inspected from outside; many fields are never read.
#![allow(dead_code)]

#[path = "example_common.rs"]
mod example_common;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::mem::size_of;
use std::rc::{self, Rc};
use std::sync::{self, Arc};

#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Point3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

pub struct Node {
    pub id: u64,
    pub name: String,
    pub values: Vec<u64>,
}

/// Multi-variant enum: a dataless variant, inline data, and heap payloads.
pub enum Shape {
    Empty,
    Circle { center: Point3, radius: f64 },
    Label(String),
    Polygon(Vec<(i32, i32)>),
}

/// The classic message enum; `Nested` makes it recursive through a Box.
pub enum Message {
    Quit,
    Move { x: i32, y: i32 },
    Write(String),
    ChangeColor(u8, u8, u8),
    Batch(Vec<u8>),
    Nested(Box<Message>),
}

pub struct Zoo {
    pub vec_u32: Vec<u32>,
    pub vec_string: Vec<String>,
    pub string: String,
    pub boxed: Box<Point3>,
    pub hash_map: HashMap<String, u64>,
    pub btree_map: BTreeMap<u32, String>,
    pub rc: Rc<Node>,
    pub rc_alias: Rc<Node>,
    pub rc_weak: rc::Weak<Node>,
    pub arc: Arc<Node>,
    pub arc_alias: Arc<Node>,
    pub arc_weak: sync::Weak<Node>,
    pub vec_deque: VecDeque<Point3>,
    pub some_box: Option<Box<Node>>,
    pub none_box: Option<Box<Node>>,
    pub shapes: Vec<Shape>,
    pub messages: Vec<Message>,
}

/// The root a debugger or memprof finds by name (`zoo::ZOO`).
pub static mut ZOO: Option<Zoo> = None;

fn node(id: u64, name: &str) -> Node {
    Node {
        id,
        name: name.to_string(),
        values: (0..10).map(|v| v * id).collect(),
    }
}

/// format!() over-allocates by a heuristic; trimming makes capacity == len.
fn exact(mut s: String) -> String {
    s.shrink_to_fit();
    s
}

fn point(i: u32) -> Point3 {
    let f = f64::from(i);
    Point3 { x: f, y: f * 2.0, z: f * 3.0 }
}

fn build_zoo() -> Zoo {
    let mut vec_u32 = Vec::new();
    for i in 0..1000u32 {
        vec_u32.push(i);
    }

    let mut vec_string = Vec::with_capacity(64);
    for i in 0..64 {
        vec_string.push(exact(format!("string-number-{:03}", i)));
    }

    let mut string = String::with_capacity(128);
    for _ in 0..100 {
        string.push('S');
    }

    let mut hash_map = HashMap::new();
    for i in 0..200u64 {
        hash_map.insert(exact(format!("key-{:03}", i)), i);
    }

    let mut btree_map = BTreeMap::new();
    for k in 0..100u32 {
        btree_map.insert(k, exact(format!("value-{}", k)));
    }

    let rc = Rc::new(node(1, "rc node"));
    let rc_alias = Rc::clone(&rc);
    let rc_weak = Rc::downgrade(&rc);
    let arc = Arc::new(node(2, "arc node"));
    let arc_alias = Arc::clone(&arc);
    let arc_weak = Arc::downgrade(&arc);

    // Fill 64 slots, pop 16 from the front and push 2 more: 50 elements whose
    // storage wraps around the end of the ring buffer.
    let mut vec_deque = VecDeque::with_capacity(64);
    for i in 0..64 {
        vec_deque.push_back(point(i));
    }
    for _ in 0..16 {
        vec_deque.pop_front();
    }
    vec_deque.push_back(point(100));
    vec_deque.push_back(point(101));

    let shapes = vec![
        Shape::Empty,
        Shape::Circle { center: point(1), radius: 1.5 },
        Shape::Label("a label long enough to be interesting".to_string()),
        Shape::Polygon(vec![(0, 0), (4, 0), (4, 3)]),
        Shape::Empty,
        Shape::Circle { center: point(2), radius: 2.5 },
        Shape::Label("second label".to_string()),
        Shape::Polygon(vec![(0, 0), (1, 0), (1, 1), (0, 1)]),
    ];

    let messages = vec![
        Message::Quit,
        Message::Move { x: 3, y: -4 },
        Message::Write("hello from the zoo".to_string()),
        Message::ChangeColor(255, 128, 0),
        Message::Batch((0..32).collect()),
        Message::Nested(Box::new(Message::Write("nested message".to_string()))),
    ];

    Zoo {
        vec_u32,
        vec_string,
        string,
        boxed: Box::new(Point3 { x: 1.0, y: 2.0, z: 3.0 }),
        hash_map,
        btree_map,
        rc,
        rc_alias,
        rc_weak,
        arc,
        arc_alias,
        arc_weak,
        vec_deque,
        some_box: Some(Box::new(node(3, "boxed node"))),
        none_box: None,
        shapes,
        messages,
    }
}

extern "C" {
    fn malloc_usable_size(p: *mut u8) -> usize;
}

/// (logical, allocated, blocks) of one heap block holding `bytes` logical bytes.
fn block(p: *const u8, bytes: usize) -> [usize; 3] {
    // SAFETY: p is the start of a live allocation of the global allocator
    // (the System allocator: glibc's malloc).
    [bytes, unsafe { malloc_usable_size(p as *mut u8) }, 1]
}

fn add(a: [usize; 3], b: [usize; 3]) -> [usize; 3] {
    [a[0] + b[0], a[1] + b[1], a[2] + b[2]]
}

/// The first pointer to a shared Node: 8 bytes, then its RcInner or
/// ArcInner (strong and weak counts before the value, both repr(C)) and
/// the Node's name and values.
fn shared_node(value: *const Node, n: &Node) -> [usize; 3] {
    let counts = 2 * size_of::<usize>();
    let inner = (value as *const u8).wrapping_sub(counts);
    let mut t = add([8, 8, 0], block(inner, counts + size_of::<Node>()));
    if n.name.capacity() > 0 {
        t = add(t, block(n.name.as_ptr(), n.name.len()));
    }
    if n.values.capacity() > 0 {
        t = add(t, block(n.values.as_ptr() as *const u8, n.values.len() * size_of::<u64>()));
    }
    t
}

fn write_expected(path: &str, zoo: &Zoo) {
    let mut out = String::new();
    let others = [8usize, 8, 0];
    let lines = [
        ("rc", shared_node(Rc::as_ptr(&zoo.rc), &zoo.rc)),
        ("rc_alias", others),
        ("rc_weak", others),
        ("arc", shared_node(Arc::as_ptr(&zoo.arc), &zoo.arc)),
        ("arc_alias", others),
        ("arc_weak", others),
    ];
    for (name, t) in lines {
        out.push_str(&format!("{} {} {} {}\n", name, t[0], t[1], t[2]));
    }
    let _ = std::fs::write(path, out);
}

fn main() {
    let mode = example_common::parse_mode();
    // SAFETY: single-threaded; nothing holds a reference to ZOO.
    unsafe {
        ZOO = Some(build_zoo());
    }
    if let Some(path) = std::env::var_os("MEMPROF_EXPECTED") {
        // SAFETY: as above.
        if let (Some(path), Some(zoo)) = (path.to_str(), unsafe { (*std::ptr::addr_of!(ZOO)).as_ref() }) {
            write_expected(path, zoo);
        }
    }
    example_common::after_build(mode);
    // SAFETY: as above; assigning drops the old value.
    unsafe {
        ZOO = None;
    }
}
