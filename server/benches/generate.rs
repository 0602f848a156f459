//! Deterministic generator of large, valid workflows and their `weft.yaml`, shared by the
//! `analysis` bench (`cargo bench --bench analysis`) and the `analysis_memory` example.
//!
//! Every stage has an id, a name, a plugin (`script`), 1–3 dependencies on earlier stages (stage 0
//! has none), a timeout and a retry count; some have `on_failure`, `requires`, `with:` inputs
//! checked against their plugin's `inputs` schema, `provides`/`consumes` (the provider is always
//! one of the consumer's dependencies) and a `condition` on an upstream stage. The output is about
//! 250 bytes per stage and analyses with zero diagnostics.

use std::fmt::Write;

/// How many plugins the generated `weft.yaml` declares.
pub const PLUGINS: usize = 10;

/// A tiny linear congruential generator (Knuth's MMIX constants): deterministic, no dependency.
pub struct Lcg(u64);

impl Lcg {
    pub fn new(seed: u64) -> Lcg {
        Lcg(seed ^ 0x9E37_79B9_7F4A_7C15)
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(1_442_695_040_888_963_407);
        self.0 >> 33
    }

    /// A number in `0..bound` (`bound > 0`).
    pub fn below(&mut self, bound: usize) -> usize {
        (self.next_u64() % bound as u64) as usize
    }
}

/// Plugins with an even number declare an `inputs` schema; stages using them pass a `with:` that
/// satisfies it.
fn has_inputs(plugin: usize) -> bool {
    plugin % 2 == 0
}

/// The project config: ten plugins with a description, a command and its args; half of them with
/// an `inputs` schema, some with a rollback action.
pub fn config() -> String {
    let mut out = String::from("# Generated for benchmarks: ten plugins used by the generated workflow.\nplugins:\n");
    for plugin in 0..PLUGINS {
        let _ = writeln!(out, "  plugin_{plugin}:");
        let _ = writeln!(out, "    description: Generated plugin number {plugin}; runs tools/plugin_{plugin}.py.");
        let _ = writeln!(out, "    command: python3");
        let _ = writeln!(out, "    args: [tools/plugin_{plugin}.py, --verbose]");
        let _ = writeln!(out, "    timeout_sec: {}", 60 * (plugin + 1));
        if has_inputs(plugin) {
            out.push_str(concat!(
                "    inputs:\n",
                "      type: object\n",
                "      additionalProperties: false\n",
                "      required: [target]\n",
                "      properties:\n",
                "        target:\n",
                "          description: What the stage works on.\n",
                "          type: string\n",
                "          pattern: \"^[a-z0-9_]+$\"\n",
                "        level: { enum: [low, medium, high] }\n",
                "        count: { type: integer, minimum: 0 }\n",
            ));
        }
        if plugin % 3 == 0 {
            let _ = writeln!(out, "    rollback: {{ command: python3, args: [tools/undo.py, plugin_{plugin}] }}");
        }
    }
    out.push_str("defaults:\n  max_concurrency: 2\n");
    out
}

fn stage_id(index: usize) -> String {
    format!("stage_{index:05}")
}

const LEVELS: [&str; 3] = ["low", "medium", "high"];
const VERBS: [&str; 8] = ["Build", "Test", "Package", "Lint", "Scan", "Publish", "Render", "Verify"];

/// A workflow of `stages` stages, deterministic for a given count.
pub fn workflow(stages: usize) -> String {
    assert!(stages <= 100_000, "stage ids have five digits");
    let mut rng = Lcg::new(stages as u64);
    let mut out = String::with_capacity(stages * 260 + 512);
    let _ = write!(
        out,
        concat!(
            "# Generated for benchmarks.\n",
            "workflow_id: generated_{stages}\n",
            "name: Generated workflow of {stages} stages\n",
            "description: A synthetic DAG for measuring the analysis of large files.\n",
            "version: \"1.0\"\n",
            "defaults:\n",
            "  max_concurrency: 2\n",
            "  timeout_sec: 300\n",
            "  max_step_duration_sec: 3600\n",
            "  retries: 0\n",
            "  on_failure: abort\n",
            "env:\n",
            "  PYTHONDONTWRITEBYTECODE: \"1\"\n",
            "  LOG_LEVEL: info\n",
            "stages:\n",
        ),
        stages = stages
    );
    // Stages that provide a key, most recent last; consumers pick one and depend on it.
    let mut providers: Vec<usize> = Vec::new();
    for index in 0..stages {
        let plugin = rng.below(PLUGINS);
        let id = stage_id(index);
        let _ = writeln!(out, "  - id: {id}");
        let _ = writeln!(out, "    name: {} shard {index} of the generated pipeline", VERBS[rng.below(VERBS.len())]);
        let _ = writeln!(out, "    script: plugin_{plugin}");

        // 1–3 distinct dependencies among the 32 stages before this one, plus a provider to consume.
        let mut depends: Vec<usize> = Vec::new();
        if index > 0 {
            let wanted = 1 + rng.below(3);
            for _ in 0..wanted {
                let candidate = index - 1 - rng.below(index.min(32));
                if !depends.contains(&candidate) {
                    depends.push(candidate);
                }
            }
        }
        let consumed = (index > 0 && !providers.is_empty() && rng.below(4) == 0)
            .then(|| providers[providers.len() - 1 - rng.below(providers.len().min(8))]);
        if let Some(provider) = consumed {
            if !depends.contains(&provider) {
                // Keeps 1–3 dependencies: the provider replaces the last pick when the list is full.
                if depends.len() == 3 {
                    depends.pop();
                }
                depends.push(provider);
            }
        }
        if !depends.is_empty() {
            let list: Vec<String> = depends.iter().map(|&d| stage_id(d)).collect();
            let _ = writeln!(out, "    depends_on: [{}]", list.join(", "));
        }
        if has_inputs(plugin) {
            let target = format!("target_{}", index % 97);
            match rng.below(3) {
                0 => {
                    let _ = writeln!(out, "    with: {{ target: {target} }}");
                }
                1 => {
                    let _ = writeln!(out, "    with: {{ target: {target}, level: {} }}", LEVELS[rng.below(3)]);
                }
                _ => {
                    let _ = writeln!(out, "    with:\n      target: {target}\n      count: {}", rng.below(10));
                }
            }
        }
        let _ = writeln!(out, "    timeout_sec: {}", 30 * (1 + rng.below(20)));
        let _ = writeln!(out, "    retries: {}", rng.below(3));
        if rng.below(3) == 0 {
            let _ = writeln!(out, "    on_failure: {}", ["continue", "skip_dependents"][rng.below(2)]);
        }
        if rng.below(4) == 0 {
            let _ = writeln!(out, "    requires: {{ commands: [python3] }}");
        }
        if rng.below(5) == 0 {
            let _ = writeln!(out, "    provides: [artifact_{index:05}]");
            providers.push(index);
        }
        if let Some(provider) = consumed {
            let _ = writeln!(out, "    consumes: [artifact_{provider:05}]");
        }
        if !depends.is_empty() && rng.below(3) == 0 {
            let upstream = stage_id(depends[rng.below(depends.len())]);
            let _ = writeln!(out, "    condition: \"steps.{upstream}.status == 'succeeded'\"");
        }
    }
    out
}
