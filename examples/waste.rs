//! waste.rs - Rust containers holding far more than they use, measured by
//! the program itself with malloc_usable_size and printed as one JSON line
//! on stderr before it holds: a static Catalog whose `items: Vec<Item>` has
//! room for 1000 and holds 10, whose `ids: Vec<u32>` has room for 5000 and
//! holds 5, and whose `title: String` has room for 40000 bytes and holds a
//! short title.  The truths are the bytes of each buffer block past what
//! its length uses.

#[path = "example_common.rs"]
mod example_common;

use std::os::raw::c_void;

extern "C" {
    fn malloc_usable_size(p: *mut c_void) -> usize;
}

pub struct Item {
    pub key: i64,
    pub weight: f64,
}

pub struct Catalog {
    pub title: String,
    pub items: Vec<Item>,
    pub ids: Vec<u32>,
}

pub static mut CATALOG: Catalog = Catalog { title: String::new(), items: Vec::new(), ids: Vec::new() };

fn main() {
    let mode = example_common::parse_mode();
    // SAFETY: single-threaded; nothing else holds a reference to CATALOG.
    #[allow(static_mut_refs)]
    let catalog = unsafe { &mut CATALOG };
    catalog.items.reserve_exact(1000);
    for i in 0..10 {
        catalog.items.push(Item { key: i, weight: i as f64 * 0.5 });
    }
    catalog.ids.reserve_exact(5000);
    for i in 0..5 {
        catalog.ids.push(i);
    }
    catalog.title.reserve_exact(40000);
    catalog.title.push_str("a catalog with room to spare");
    // SAFETY: each pointer is the start of a live malloc block.
    let (items, ids, title) = unsafe {
        (
            malloc_usable_size(catalog.items.as_mut_ptr() as *mut c_void)
                - catalog.items.len() * std::mem::size_of::<Item>(),
            malloc_usable_size(catalog.ids.as_mut_ptr() as *mut c_void)
                - catalog.ids.len() * std::mem::size_of::<u32>(),
            malloc_usable_size(catalog.title.as_mut_ptr() as *mut c_void) - catalog.title.len(),
        )
    };
    eprintln!(
        "{{\"Catalog.items\": {}, \"Catalog.ids\": {}, \"Catalog.title\": {}}}",
        items, ids, title
    );
    example_common::after_build(mode);
    let _ = (catalog.items.len(), catalog.ids.len(), catalog.title.len());
}
