//! waste.rs - Rust containers holding far more than they use, measured by
//! the program itself with malloc_usable_size and printed as one JSON line
//! on stderr before it holds: a static Catalog whose `items: Vec<Item>` has
//! room for 1000 and holds 10, whose `ids: Vec<u32>` has room for 5000 and
//! holds 5, whose `title: String` has room for 40000 bytes and holds a
//! short title, and whose `index: HashMap<u64, u64>` was reserved for
//! 100000 entries and holds 10.  The truths are the bytes of each buffer
//! block past what its length uses; for the hash table, its allocation
//! past what a table right-sized for its entries would take (what
//! shrink_to_fit gives back), from hashbrown's layout: buckets of (K, V)
//! padded to 16 bytes, then one control byte per bucket and 16 more.
//! A local of main, `shelves: Vec<Vec<u16>>`, holds 20 vectors with room
//! for 4000 holding 3 each: only the stack local leads to them, and each
//! element's buffer is measured.

#[path = "example_common.rs"]
mod example_common;

use std::collections::hash_map::DefaultHasher;
use std::collections::HashMap;
use std::hash::BuildHasherDefault;
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
    pub index: HashMap<u64, u64, BuildHasherDefault<DefaultHasher>>,
}

pub static mut CATALOG: Catalog = Catalog {
    title: String::new(),
    items: Vec::new(),
    ids: Vec::new(),
    index: HashMap::with_hasher(BuildHasherDefault::new()),
};

/// Bytes of a hashbrown allocation with `buckets` buckets of `element` bytes.
fn table_bytes(buckets: usize, element: usize) -> usize {
    (buckets * element).div_ceil(16) * 16 + buckets + 16
}

/// Buckets of a table sized for `items` entries (at most 7/8 full).
fn buckets_for(items: usize) -> usize {
    if items < 4 {
        4
    } else if items < 8 {
        8
    } else {
        (items * 8 / 7).next_power_of_two()
    }
}

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
    catalog.index.reserve(100000);
    for i in 0..10 {
        catalog.index.insert(i * 7919, i);
    }
    // capacity() is 7/8 of the buckets for tables of 8 buckets or more.
    let buckets = catalog.index.capacity() / 7 * 8;
    let element = std::mem::size_of::<(u64, u64)>();
    let index = table_bytes(buckets, element) - table_bytes(buckets_for(catalog.index.len()), element);
    // SAFETY: each pointer is the start of a live malloc block.
    let mut shelves: Vec<Vec<u16>> = Vec::with_capacity(20);
    for n in 0..20u16 {
        let mut shelf = Vec::with_capacity(4000);
        shelf.extend_from_slice(&[n, n + 1, n + 2]);
        shelves.push(shelf);
    }
    let shelf_bytes: usize = shelves
        .iter_mut()
        .map(|v| unsafe { malloc_usable_size(v.as_mut_ptr() as *mut c_void) } - v.len() * 2)
        .sum();
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
        "{{\"Catalog.items\": {}, \"Catalog.ids\": {}, \"Catalog.title\": {}, \"Catalog.index\": {}, \"Vec<u16, alloc::alloc::Global>\": {}}}",
        items, ids, title, index, shelf_bytes
    );
    example_common::after_build(mode);
    let _ = (catalog.items.len(), catalog.ids.len(), catalog.title.len(), catalog.index.len());
    std::hint::black_box(&shelves);
}
