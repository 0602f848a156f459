//! The dependency graph of a workflow or plan: lookups by id, upstream queries, cycles and waves.

use std::cell::RefCell;
use std::collections::{HashMap, VecDeque};

use foldhash::HashMapExt;

use petgraph::algo::kosaraju_scc;
use petgraph::graph::{DiGraph, NodeIndex};

use crate::model::Pipeline;

/// Steps are numbered by their position in the file.
pub type StepIndex = usize;

/// A resolved `depends_on` edge: `step` depends on `dependency`, written as item `item` of its list.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Edge {
    pub dependency: StepIndex,
    pub step: StepIndex,
    pub item: usize,
}

pub struct StepGraph {
    /// Ids are hashed with foldhash, not SipHash: the map is built and queried once per id per
    /// keystroke, and its keys come from the user's own file.
    index: foldhash::HashMap<Box<str>, StepIndex>,
    /// For each step, its resolved dependencies (self-dependencies and unknown ids left out).
    dependencies: Vec<Vec<Edge>>,
    /// For each step, the steps that depend on it.
    dependents: Vec<Vec<StepIndex>>,
    /// For each step, whether its `depends_on` names an id that is in no step (its own id aside).
    unresolved: Vec<bool>,
    /// Generation-stamped marks and a stack for upstream searches, so a query allocates nothing.
    marks: RefCell<UpstreamSearch>,
}

struct UpstreamSearch {
    generation: u32,
    seen: Vec<u32>,
    stack: Vec<StepIndex>,
}

impl StepGraph {
    pub fn build(pipeline: &Pipeline<'_>) -> StepGraph {
        let count = pipeline.steps.len();
        let mut index = foldhash::HashMap::with_capacity(count);
        for (position, step) in pipeline.steps.iter().enumerate() {
            if let Some(id) = step.id {
                index.entry(Box::from(id.text)).or_insert(position);
            }
        }
        let mut dependencies = vec![Vec::new(); count];
        let mut dependents = vec![Vec::new(); count];
        let mut unresolved = vec![false; count];
        for (position, step) in pipeline.steps.iter().enumerate() {
            for (item, name) in step.depends_on.iter().enumerate() {
                let Some(&dependency) = index.get(name.text) else {
                    unresolved[position] = true;
                    continue;
                };
                if dependency == position || dependencies[position].iter().any(|e: &Edge| e.dependency == dependency) {
                    continue;
                }
                dependencies[position].push(Edge { dependency, step: position, item });
                dependents[dependency].push(position);
            }
        }
        let marks = UpstreamSearch { generation: 0, seen: vec![0; count], stack: Vec::new() };
        StepGraph { index, dependencies, dependents, unresolved, marks: RefCell::new(marks) }
    }

    pub fn len(&self) -> usize {
        self.dependencies.len()
    }

    pub fn is_empty(&self) -> bool {
        self.dependencies.is_empty()
    }

    /// The step that owns an id (the first one, when an id is duplicated).
    pub fn lookup(&self, id: &str) -> Option<StepIndex> {
        self.index.get(id).copied()
    }

    pub fn ids(&self) -> impl Iterator<Item = &str> {
        self.index.keys().map(|id| &**id)
    }

    pub fn dependencies(&self, step: StepIndex) -> &[Edge] {
        &self.dependencies[step]
    }

    pub fn dependents(&self, step: StepIndex) -> &[StepIndex] {
        &self.dependents[step]
    }

    /// True when the step's `depends_on` names an id that no step has, so the steps upstream of it
    /// are not all known.
    pub fn has_unknown_dependency(&self, step: StepIndex) -> bool {
        self.unresolved[step]
    }

    /// True when `candidate` must finish before `step` starts: it is a dependency of `step`, directly
    /// or through other steps.
    pub fn is_upstream(&self, candidate: StepIndex, step: StepIndex) -> bool {
        if candidate == step {
            return false;
        }
        let mut marks = self.marks.borrow_mut();
        let UpstreamSearch { generation, seen, stack } = &mut *marks;
        *generation = generation.wrapping_add(1);
        if *generation == 0 {
            seen.iter_mut().for_each(|mark| *mark = 0);
            *generation = 1;
        }
        stack.clear();
        stack.push(step);
        while let Some(current) = stack.pop() {
            for edge in &self.dependencies[current] {
                if edge.dependency == candidate {
                    return true;
                }
                if seen[edge.dependency] != *generation {
                    seen[edge.dependency] = *generation;
                    stack.push(edge.dependency);
                }
            }
        }
        false
    }

    /// Every step that `step` depends on, directly or through others (`true` at their positions):
    /// one walk, for callers that ask "is it upstream?" of many steps.
    pub fn upstream_of(&self, step: StepIndex) -> Vec<bool> {
        self.reach(step, |graph, current| graph.dependencies[current].iter().map(|edge| edge.dependency).collect())
    }

    /// Every step that depends on `step`, directly or through others.
    pub fn downstream_of(&self, step: StepIndex) -> Vec<bool> {
        self.reach(step, |graph, current| graph.dependents[current].clone())
    }

    fn reach(&self, step: StepIndex, next: impl Fn(&StepGraph, StepIndex) -> Vec<StepIndex>) -> Vec<bool> {
        let mut reached = vec![false; self.len()];
        let mut stack = vec![step];
        while let Some(current) = stack.pop() {
            for other in next(self, current) {
                if !std::mem::replace(&mut reached[other], true) {
                    stack.push(other);
                }
            }
        }
        reached
    }

    /// Every dependency cycle, once each: a closed path of edges in which each edge's step is the
    /// next edge's dependency, starting at the earliest-declared step of the cycle.
    pub fn cycles(&self) -> Vec<Vec<Edge>> {
        // Most graphs have no cycle: finding that out takes one topological pass over the edges
        // already here, where the search below builds a graph of its own.
        if self.is_acyclic() {
            return Vec::new();
        }
        let mut graph: DiGraph<(), ()> = DiGraph::with_capacity(self.len(), self.len());
        for _ in 0..self.len() {
            graph.add_node(());
        }
        for edges in &self.dependencies {
            for edge in edges {
                graph.add_edge(NodeIndex::new(edge.dependency), NodeIndex::new(edge.step), ());
            }
        }
        let mut cycles = Vec::new();
        // Kosaraju walks with explicit stacks; petgraph's Tarjan recurses and a 10,000-stage chain would
        // overflow a small thread stack.
        for component in kosaraju_scc(&graph) {
            if component.len() < 2 {
                continue;
            }
            let members: std::collections::HashSet<StepIndex> = component.iter().map(|n| n.index()).collect();
            let start = *members.iter().min().expect("a component has members");
            if let Some(path) = self.shortest_cycle_through(start, &members) {
                cycles.push(path);
            }
        }
        cycles.sort_by_key(|path| path[0].dependency);
        cycles
    }

    /// True when every step can be ordered after its dependencies (Kahn's algorithm).
    fn is_acyclic(&self) -> bool {
        let mut waiting: Vec<u32> = self.dependencies.iter().map(|edges| edges.len() as u32).collect();
        let mut ready: Vec<StepIndex> = (0..self.len()).filter(|&step| waiting[step] == 0).collect();
        let mut ordered = 0;
        while let Some(step) = ready.pop() {
            ordered += 1;
            for &dependent in &self.dependents[step] {
                waiting[dependent] -= 1;
                if waiting[dependent] == 0 {
                    ready.push(dependent);
                }
            }
        }
        ordered == self.len()
    }

    /// A shortest closed path from `start` back to itself inside one strongly connected component,
    /// following edges in run order (dependency → dependent).
    fn shortest_cycle_through(
        &self,
        start: StepIndex,
        members: &std::collections::HashSet<StepIndex>,
    ) -> Option<Vec<Edge>> {
        let mut came_from: HashMap<StepIndex, Edge> = HashMap::new();
        let mut queue = VecDeque::from([start]);
        while let Some(current) = queue.pop_front() {
            for &next in &self.dependents[current] {
                if !members.contains(&next) {
                    continue;
                }
                let edge = *self.dependencies[next].iter().find(|e| e.dependency == current)?;
                if next == start {
                    let mut path = vec![edge];
                    let mut at = current;
                    while at != start {
                        let back = came_from[&at];
                        path.push(back);
                        at = back.dependency;
                    }
                    path.reverse();
                    return Some(path);
                }
                if let std::collections::hash_map::Entry::Vacant(slot) = came_from.entry(next) {
                    slot.insert(edge);
                    queue.push_back(next);
                }
            }
        }
        None
    }

    /// The wave (topological level) of each step: 0 for steps without dependencies, else one more
    /// than the latest of its dependencies. Steps in or after a cycle have none.
    pub fn waves(&self) -> Vec<Option<usize>> {
        let mut waves = vec![None; self.len()];
        let mut waiting: Vec<usize> = self.dependencies.iter().map(Vec::len).collect();
        let mut ready: VecDeque<StepIndex> = (0..self.len()).filter(|&step| waiting[step] == 0).collect();
        while let Some(step) = ready.pop_front() {
            let wave = self.dependencies[step]
                .iter()
                .filter_map(|edge| waves[edge.dependency])
                .map(|w: usize| w + 1)
                .max()
                .unwrap_or(0);
            waves[step] = Some(wave);
            for &dependent in &self.dependents[step] {
                waiting[dependent] -= 1;
                if waiting[dependent] == 0 {
                    ready.push_back(dependent);
                }
            }
        }
        waves
    }
}
