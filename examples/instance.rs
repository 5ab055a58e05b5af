//! instance.rs - an optimisation-problem instance in the spirit of OMMX's
//! `Instance`, kept in `static mut INSTANCE: Option<Instance>` (DWARF:
//! variable `INSTANCE` in namespace `instance`, i.e. `instance::INSTANCE`).
//!
//! Types used: Vec, String, HashMap (with a fixed FNV hasher, as OMMX uses
//! FnvHashMap, so bucket order is the same on every run), BTreeMap, Option,
//! Box, and enums with data (`Function`).
//!
//! Sizes (deterministic, splitmix64 with a fixed seed): 2000 decision
//! variables, 300 constraints (8..12 linear terms each; 2..4 quadratic terms
//! for the 270 constraints whose function is `Function::Quadratic`, none for
//! the 30 with `Function::Linear`), 5 removed constraints (boxed),
//! 10 one-hot and 10 SOS1 hints, objective with 500 linear and 100 quadratic
//! terms.
//!
//! valgrind --leak-check=full: no leaks (INSTANCE is reset to None before exit).
//! With rustc 1.95 one block of 544 bytes is still reachable: the Rust
//! runtime's own stack-overflow thread-info map, allocated before main()
//! (rustc 1.63 leaves nothing).
//!
//! Expected `memprof logical instance::INSTANCE` totals: when the
//! environment variable MEMPROF_EXPECTED names a file, the program writes
//! there, before holding, one line per top-level field of the instance
//! ("field LOGICAL ALLOCATED BLOCKS") and a "total" line.  Logical bytes
//! come from a visitor over the data (size_of, len, as OMMX's logical memory
//! profiler counts them: see docs/logical.md); allocated bytes and blocks
//! from the global allocator below, which tags every live allocation with
//! the field being built and sums malloc_usable_size per tag.  Its table is
//! static (.bss): it allocates nothing itself.

// The data exists to be inspected from outside; many fields are never read.
#![allow(dead_code)]

#[path = "example_common.rs"]
mod example_common;

use std::alloc::{GlobalAlloc, Layout, System};
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::hash::{BuildHasherDefault, Hasher};
use std::mem::size_of;
use std::sync::atomic::{AtomicUsize, Ordering};

// ------------------------------------------------------------------
// A global allocator that tags live allocations (see the top comment).

extern "C" {
    fn malloc_usable_size(p: *mut u8) -> usize;
}

const SLOTS: usize = 1 << 17;
const TAGS: usize = 16;
const ZERO: AtomicUsize = AtomicUsize::new(0);
static SLOT_PTR: [AtomicUsize; SLOTS] = [ZERO; SLOTS];
static SLOT_TAG: [AtomicUsize; SLOTS] = [ZERO; SLOTS];
static TAG_BYTES: [AtomicUsize; TAGS] = [ZERO; TAGS];
static TAG_BLOCKS: [AtomicUsize; TAGS] = [ZERO; TAGS];
static CURRENT_TAG: AtomicUsize = AtomicUsize::new(0);
static OVERFLOW: AtomicUsize = AtomicUsize::new(0);

fn home(p: usize) -> usize {
    ((p >> 4).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> (64 - 17)) & (SLOTS - 1)
}

unsafe fn track(p: *mut u8) {
    if p.is_null() {
        return;
    }
    let tag = CURRENT_TAG.load(Ordering::Relaxed);
    let mut i = home(p as usize);
    for _ in 0..SLOTS {
        if SLOT_PTR[i].load(Ordering::Relaxed) == 0 {
            SLOT_PTR[i].store(p as usize, Ordering::Relaxed);
            SLOT_TAG[i].store(tag, Ordering::Relaxed);
            TAG_BYTES[tag].fetch_add(malloc_usable_size(p), Ordering::Relaxed);
            TAG_BLOCKS[tag].fetch_add(1, Ordering::Relaxed);
            return;
        }
        i = (i + 1) & (SLOTS - 1);
    }
    OVERFLOW.store(1, Ordering::Relaxed);
}

unsafe fn untrack(p: *mut u8) {
    let mut i = home(p as usize);
    let mut found = false;
    for _ in 0..SLOTS {
        let q = SLOT_PTR[i].load(Ordering::Relaxed);
        if q == 0 {
            break;
        }
        if q == p as usize {
            found = true;
            break;
        }
        i = (i + 1) & (SLOTS - 1);
    }
    if !found {
        return;
    }
    let tag = SLOT_TAG[i].load(Ordering::Relaxed);
    TAG_BYTES[tag].fetch_sub(malloc_usable_size(p), Ordering::Relaxed);
    TAG_BLOCKS[tag].fetch_sub(1, Ordering::Relaxed);
    // Backward-shift deletion keeps every probe chain unbroken.
    let mut j = i;
    loop {
        j = (j + 1) & (SLOTS - 1);
        let q = SLOT_PTR[j].load(Ordering::Relaxed);
        if q == 0 {
            break;
        }
        let k = home(q);
        let stays = if i <= j { i < k && k <= j } else { i < k || k <= j };
        if stays {
            continue;
        }
        SLOT_PTR[i].store(q, Ordering::Relaxed);
        SLOT_TAG[i].store(SLOT_TAG[j].load(Ordering::Relaxed), Ordering::Relaxed);
        i = j;
    }
    SLOT_PTR[i].store(0, Ordering::Relaxed);
}

struct Tracking;

unsafe impl GlobalAlloc for Tracking {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc(layout);
        track(p);
        p
    }
    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        let p = System.alloc_zeroed(layout);
        track(p);
        p
    }
    unsafe fn dealloc(&self, p: *mut u8, layout: Layout) {
        untrack(p);
        System.dealloc(p, layout)
    }
    unsafe fn realloc(&self, p: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        untrack(p);
        let q = System.realloc(p, layout, new_size);
        track(if q.is_null() { p } else { q });
        q
    }
}

#[global_allocator]
static GLOBAL: Tracking = Tracking;

/// Allocations from now on belong to field `tag` (0: none).
fn tag(tag: usize) {
    CURRENT_TAG.store(tag, Ordering::Relaxed);
}

/// 64-bit FNV-1a, written here to keep the example free of crates.
pub struct FnvHasher(u64);

impl Default for FnvHasher {
    fn default() -> Self {
        FnvHasher(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for FnvHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

pub type FnvHashMap<K, V> = HashMap<K, V, BuildHasherDefault<FnvHasher>>;

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct VariableID(u64);

#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct ConstraintID(u64);

/// A (lower, upper) pair of variable ids, lower <= upper.
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Debug)]
pub struct VariableIDPair(VariableID, VariableID);

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Kind {
    Binary,
    Integer,
    Continuous,
    SemiInteger,
    SemiContinuous,
}

#[derive(Clone, Copy, Debug)]
pub struct Bound {
    pub lower: f64,
    pub upper: f64,
}

#[derive(Default)]
pub struct DecisionVariableMetadata {
    pub name: Option<String>,
    pub subscripts: Vec<i64>,
    pub parameters: FnvHashMap<String, String>,
    pub description: Option<String>,
}

pub struct DecisionVariable {
    pub id: VariableID,
    pub kind: Kind,
    pub bound: Bound,
    pub substituted_value: Option<f64>,
    pub metadata: DecisionVariableMetadata,
}

#[derive(Default)]
pub struct Linear {
    pub constant: f64,
    pub terms: FnvHashMap<VariableID, f64>,
}

#[derive(Default)]
pub struct Quadratic {
    pub linear: Linear,
    pub terms: FnvHashMap<VariableIDPair, f64>,
}

/// Like OMMX's Function: an enum whose variants carry differently sized data.
pub enum Function {
    Zero,
    Constant(f64),
    Linear(Linear),
    Quadratic(Quadratic),
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Equality {
    EqualToZero,
    LessThanOrEqualToZero,
}

pub struct Constraint {
    pub id: ConstraintID,
    pub equality: Equality,
    pub function: Function,
    pub name: Option<String>,
    pub subscripts: Vec<i64>,
    pub parameters: FnvHashMap<String, String>,
    pub description: Option<String>,
}

pub struct RemovedConstraint {
    pub constraint: Box<Constraint>,
    pub removed_reason: String,
    pub removed_reason_parameters: FnvHashMap<String, String>,
}

pub struct OneHot {
    pub id: ConstraintID,
    pub variables: Vec<VariableID>,
}

pub struct Sos1 {
    pub binary_constraint_id: ConstraintID,
    pub big_m_constraint_ids: BTreeSet<ConstraintID>,
    pub variables: Vec<VariableID>,
}

#[derive(Default)]
pub struct ConstraintHints {
    pub one_hot_constraints: Vec<OneHot>,
    pub sos1_constraints: Vec<Sos1>,
}

pub struct InstanceDescription {
    pub name: Option<String>,
    pub description: Option<String>,
    pub authors: Vec<String>,
    pub created_by: Option<String>,
}

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Sense {
    Minimize,
    Maximize,
}

pub struct Instance {
    pub description: Option<InstanceDescription>,
    pub sense: Sense,
    pub objective: Function,
    pub decision_variables: BTreeMap<VariableID, DecisionVariable>,
    pub constraints: BTreeMap<ConstraintID, Constraint>,
    pub removed_constraints: BTreeMap<ConstraintID, RemovedConstraint>,
    pub constraint_hints: ConstraintHints,
    pub parameters: Option<Box<FnvHashMap<String, String>>>,
}

/// The root a debugger or memprof finds by name (`instance::INSTANCE`).
pub static mut INSTANCE: Option<Instance> = None;

const N_VARIABLES: u64 = 2000;
const N_CONSTRAINTS: u64 = 300;
const N_REMOVED: u64 = 5;
const N_ONE_HOT: u64 = 10;
const N_SOS1: u64 = 10;
const N_OBJECTIVE_LINEAR: usize = 500;
const N_OBJECTIVE_QUADRATIC: usize = 100;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    fn range(&mut self, lo: f64, hi: f64) -> f64 {
        let unit = (self.next() >> 11) as f64 * (1.0 / 9_007_199_254_740_992.0);
        let v = lo + unit * (hi - lo);
        ((v * 1024.0) as i64) as f64 / 1024.0
    }
}

fn make_parameters(n: u64, prefix: &str, id: u64) -> FnvHashMap<String, String> {
    const KEYS: [&str; 4] = ["group", "priority", "source", "unit"];
    let mut params = FnvHashMap::default();
    for i in 0..n {
        params.insert(
            KEYS[(i % 4) as usize].to_string(),
            format!("{}-{}-{}", prefix, id % 37, i),
        );
    }
    params
}

fn random_linear(rng: &mut Rng, n: usize) -> Linear {
    let mut linear = Linear {
        constant: rng.range(-10.0, 10.0),
        terms: FnvHashMap::default(),
    };
    for _ in 0..n {
        let var = VariableID(rng.below(N_VARIABLES));
        *linear.terms.entry(var).or_insert(0.0) += rng.range(-5.0, 5.0);
    }
    linear
}

fn random_quadratic(rng: &mut Rng, n_linear: usize, n_quadratic: usize) -> Quadratic {
    let linear = random_linear(rng, n_linear);
    let mut terms = FnvHashMap::default();
    for _ in 0..n_quadratic {
        let a = rng.below(N_VARIABLES);
        let b = rng.below(N_VARIABLES);
        let key = VariableIDPair(VariableID(a.min(b)), VariableID(a.max(b)));
        *terms.entry(key).or_insert(0.0) += rng.range(-2.0, 2.0);
    }
    Quadratic { linear, terms }
}

fn make_variable(rng: &mut Rng, id: u64) -> DecisionVariable {
    let (kind, bound, name) = match id % 10 {
        0..=5 => (Kind::Binary, Bound { lower: 0.0, upper: 1.0 }, "x"),
        6 | 7 => (
            Kind::Integer,
            Bound { lower: 0.0, upper: (1 + rng.below(20)) as f64 },
            "n",
        ),
        8 => {
            let lower = -rng.range(0.0, 100.0);
            (Kind::Continuous, Bound { lower, upper: rng.range(0.0, 100.0) }, "flow")
        }
        _ => {
            let kind = if id % 20 == 9 { Kind::SemiContinuous } else { Kind::SemiInteger };
            (kind, Bound { lower: 1.0, upper: 10.0 }, "level")
        }
    };
    DecisionVariable {
        id: VariableID(id),
        kind,
        bound,
        substituted_value: if id % 50 == 7 { Some(1.0) } else { None },
        metadata: DecisionVariableMetadata {
            name: Some(name.to_string()),
            subscripts: vec![(id / 50) as i64, (id % 50) as i64],
            parameters: make_parameters(id % 3, "var", id),
            description: if id % 10 == 3 {
                Some(format!("decision variable {} of the example instance", id))
            } else {
                None
            },
        },
    }
}

fn make_constraint(rng: &mut Rng, id: u64) -> Constraint {
    let n_linear = 8 + rng.below(5) as usize;
    let n_quadratic = 2 + rng.below(3) as usize;
    let function = if id % 10 == 5 {
        Function::Linear(random_linear(rng, n_linear))
    } else {
        Function::Quadratic(random_quadratic(rng, n_linear, n_quadratic))
    };
    Constraint {
        id: ConstraintID(id),
        equality: if id % 3 == 0 {
            Equality::EqualToZero
        } else {
            Equality::LessThanOrEqualToZero
        },
        function,
        name: Some(format!("{}_{}", if id % 2 == 1 { "capacity" } else { "demand" }, id)),
        subscripts: vec![id as i64],
        parameters: make_parameters(1 + id % 2, "con", id),
        description: if id % 25 == 0 {
            Some(format!("constraint {}: keeps the example feasible", id))
        } else {
            None
        },
    }
}

fn build_instance() -> Instance {
    let mut rng = Rng(0x5eed_0fe1_a7ca_fe01);

    tag(1);
    let description = InstanceDescription {
        name: Some("memprof-example-facility-location".to_string()),
        description: Some(
            "A facility location model with capacity and demand constraints, \
             generated deterministically for memprof's examples."
                .to_string(),
        ),
        authors: vec![
            "Ada Example".to_string(),
            "Grace Sample".to_string(),
            "Edsger Instance".to_string(),
        ],
        created_by: Some("memprof examples/instance.rs".to_string()),
    };

    tag(2);
    let objective = Function::Quadratic(random_quadratic(
        &mut rng,
        N_OBJECTIVE_LINEAR,
        N_OBJECTIVE_QUADRATIC,
    ));

    tag(3);
    let mut decision_variables = BTreeMap::new();
    for id in 0..N_VARIABLES {
        decision_variables.insert(VariableID(id), make_variable(&mut rng, id));
    }

    tag(4);
    let mut constraints = BTreeMap::new();
    for id in 0..N_CONSTRAINTS {
        constraints.insert(ConstraintID(id), make_constraint(&mut rng, id));
    }

    tag(5);
    let mut removed_constraints = BTreeMap::new();
    for k in 0..N_REMOVED {
        let id = N_CONSTRAINTS + k;
        removed_constraints.insert(
            ConstraintID(id),
            RemovedConstraint {
                constraint: Box::new(make_constraint(&mut rng, id)),
                removed_reason: "presolve: redundant".to_string(),
                removed_reason_parameters: make_parameters(2, "removed", id),
            },
        );
    }

    tag(6);
    let mut hints = ConstraintHints::default();
    for i in 0..N_ONE_HOT {
        let n = 5 + rng.below(11);
        hints.one_hot_constraints.push(OneHot {
            id: ConstraintID(i * 3),
            variables: (0..n).map(|j| VariableID(i * 100 + j * 10)).collect(),
        });
    }
    for i in 0..N_SOS1 {
        let n = 2 + rng.below(4);
        hints.sos1_constraints.push(Sos1 {
            binary_constraint_id: ConstraintID(100 + i),
            big_m_constraint_ids: (0..n).map(|j| ConstraintID(200 + i * 8 + j)).collect(),
            variables: (0..n).map(|j| VariableID(1000 + i * 50 + j)).collect(),
        });
    }

    tag(7);
    let mut parameters = FnvHashMap::default();
    for i in 0..5 {
        parameters.insert(
            format!("instance-parameter-{}", i),
            format!("value-of-instance-parameter-{}", i),
        );
    }
    let parameters = Some(Box::new(parameters));
    tag(0);

    Instance {
        description: Some(description),
        sense: Sense::Minimize,
        objective,
        decision_variables,
        constraints,
        removed_constraints,
        constraint_hints: hints,
        parameters,
    }
}

// ------------------------------------------------------------------
// Logical bytes on the heap, by the rules of docs/logical.md.

trait Logical {
    /// Heap bytes this value owns (its own inline bytes excluded).
    fn heap(&self) -> usize;
}

macro_rules! no_heap {
    ($($t:ty),*) => { $(impl Logical for $t { fn heap(&self) -> usize { 0 } })* };
}
no_heap!(u64, i64, f64, VariableID, ConstraintID, VariableIDPair, Kind, Bound, Equality, Sense);

impl Logical for String {
    fn heap(&self) -> usize {
        if self.capacity() > 0 { self.len() } else { 0 }
    }
}

impl<T: Logical> Logical for Option<T> {
    fn heap(&self) -> usize {
        self.as_ref().map_or(0, |v| v.heap())
    }
}

impl<T: Logical> Logical for Box<T> {
    fn heap(&self) -> usize {
        size_of::<T>() + (**self).heap()
    }
}

impl<T: Logical> Logical for Vec<T> {
    fn heap(&self) -> usize {
        let own = if self.capacity() > 0 { self.len() * size_of::<T>() } else { 0 };
        own + self.iter().map(|e| e.heap()).sum::<usize>()
    }
}

impl<K: Logical, V: Logical, S> Logical for HashMap<K, V, S> {
    fn heap(&self) -> usize {
        let own = if self.capacity() > 0 { self.len() * size_of::<(K, V)>() } else { 0 };
        own + self.iter().map(|(k, v)| k.heap() + v.heap()).sum::<usize>()
    }
}

impl<K: Logical, V: Logical> Logical for BTreeMap<K, V> {
    fn heap(&self) -> usize {
        self.len() * (size_of::<K>() + size_of::<V>())
            + self.iter().map(|(k, v)| k.heap() + v.heap()).sum::<usize>()
    }
}

impl<K: Logical> Logical for BTreeSet<K> {
    fn heap(&self) -> usize {
        self.len() * size_of::<K>() + self.iter().map(|k| k.heap()).sum::<usize>()
    }
}

impl Logical for Linear {
    fn heap(&self) -> usize {
        self.terms.heap()
    }
}

impl Logical for Quadratic {
    fn heap(&self) -> usize {
        self.linear.heap() + self.terms.heap()
    }
}

impl Logical for Function {
    fn heap(&self) -> usize {
        match self {
            Function::Zero | Function::Constant(_) => 0,
            Function::Linear(l) => l.heap(),
            Function::Quadratic(q) => q.heap(),
        }
    }
}

impl Logical for DecisionVariableMetadata {
    fn heap(&self) -> usize {
        self.name.heap() + self.subscripts.heap() + self.parameters.heap() + self.description.heap()
    }
}

impl Logical for DecisionVariable {
    fn heap(&self) -> usize {
        self.metadata.heap()
    }
}

impl Logical for Constraint {
    fn heap(&self) -> usize {
        self.function.heap()
            + self.name.heap()
            + self.subscripts.heap()
            + self.parameters.heap()
            + self.description.heap()
    }
}

impl Logical for RemovedConstraint {
    fn heap(&self) -> usize {
        self.constraint.heap() + self.removed_reason.heap() + self.removed_reason_parameters.heap()
    }
}

impl Logical for OneHot {
    fn heap(&self) -> usize {
        self.variables.heap()
    }
}

impl Logical for Sos1 {
    fn heap(&self) -> usize {
        self.big_m_constraint_ids.heap() + self.variables.heap()
    }
}

impl Logical for ConstraintHints {
    fn heap(&self) -> usize {
        self.one_hot_constraints.heap() + self.sos1_constraints.heap()
    }
}

impl Logical for InstanceDescription {
    fn heap(&self) -> usize {
        self.name.heap() + self.description.heap() + self.authors.heap() + self.created_by.heap()
    }
}

fn field_line<T: Logical>(out: &mut String, name: &str, value: &T, tag: usize, sum: &mut [usize; 4]) {
    let inline = std::mem::size_of_val(value);
    let logical = inline + value.heap();
    let allocated = inline + TAG_BYTES[tag].load(Ordering::Relaxed);
    let blocks = TAG_BLOCKS[tag].load(Ordering::Relaxed);
    out.push_str(&format!("{} {} {} {}\n", name, logical, allocated, blocks));
    sum[0] += inline;
    sum[1] += logical;
    sum[2] += allocated;
    sum[3] += blocks;
}

fn write_expected(path: &str, inst: &Instance) {
    let mut out = String::new();
    let mut sum = [0usize; 4];
    field_line(&mut out, "description", &inst.description, 1, &mut sum);
    // sense owns no heap: its inline bytes only.
    let sense = size_of::<Sense>();
    out.push_str(&format!("sense {} {} 0\n", sense, sense));
    sum[0] += sense;
    sum[1] += sense;
    sum[2] += sense;
    field_line(&mut out, "objective", &inst.objective, 2, &mut sum);
    field_line(&mut out, "decision_variables", &inst.decision_variables, 3, &mut sum);
    field_line(&mut out, "constraints", &inst.constraints, 4, &mut sum);
    field_line(&mut out, "removed_constraints", &inst.removed_constraints, 5, &mut sum);
    field_line(&mut out, "constraint_hints", &inst.constraint_hints, 6, &mut sum);
    field_line(&mut out, "parameters", &inst.parameters, 7, &mut sum);
    let padding = size_of::<Instance>() - sum[0];
    if padding > 0 {
        out.push_str(&format!("[padding] {} {} 0\n", padding, padding));
    }
    // Bytes of Option<Instance> beyond the Instance (none with a niche).
    let extra = size_of::<Option<Instance>>() - size_of::<Instance>();
    if extra > 0 {
        out.push_str(&format!("[inline] {} {} 0\n", extra, extra));
    }
    out.push_str(&format!(
        "total {} {} {}\n",
        sum[1] + padding + extra,
        sum[2] + padding + extra,
        sum[3]
    ));
    if OVERFLOW.load(Ordering::Relaxed) != 0 {
        out = String::from("overflow 0 0 0\n");
    }
    let _ = std::fs::write(path, out);
}

fn main() {
    let mode = example_common::parse_mode();
    // SAFETY: single-threaded; nothing holds a reference to INSTANCE.
    unsafe {
        INSTANCE = Some(build_instance());
    }
    if let Some(path) = std::env::var_os("MEMPROF_EXPECTED") {
        if let (Some(path), Some(inst)) = (path.to_str(), unsafe { (*std::ptr::addr_of!(INSTANCE)).as_ref() }) {
            write_expected(path, inst);
        }
    }
    example_common::after_build(mode);
    // SAFETY: as above; assigning drops the old value.
    unsafe {
        INSTANCE = None;
    }
}
