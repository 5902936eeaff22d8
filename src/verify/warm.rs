//! Warm latency of both platforms, interleaved. The open-loop load (load.rs) runs in short
//! blocks that strictly alternate between the platforms — K N K N … — over connections each
//! platform keeps between its blocks. Block `i` of Knative and block `i` of Nomad were measured
//! next to each other in time; the statistics keep them together (`stats::compare_blocks`).
//! Strict alternation, not K N N K: with the mirrored order two blocks of one platform sit side
//! by side, and a burst of other load as long as two blocks falls on one platform only (one such
//! run FAILed warm p99 in an A/A benchmark). The price: Nomad's block always comes second, so a
//! steady drift adds its change over one block (≤ 500 ms) to Nomad.
//!
//! Why: loading one platform for the whole duration and then the other turns any change of the
//! machine between the two periods (another process starting, a frequency step) into a
//! difference between the platforms. Measured against itself, one server FAILed in 10 of 40
//! runs that way; interleaved and judged by blocks, in none (BENCHMARKS.md, *verify: A/A*).
//!
//! Not here: the load engine (load.rs), bringing a platform up (cold.rs).

use super::http1::Target;
use super::load::{self, Connections, LoadResult, OpenLoop};
use std::time::Duration;

/// The shortest block: shorter ones would be mostly connection hand-over.
const MIN_BLOCK: Duration = Duration::from_millis(100);
/// Blocks per platform when the duration allows (enough pairs for the block bootstrap).
const MAX_BLOCKS: u32 = 20;

/// What to run on each platform.
#[derive(Debug, Clone, Copy)]
pub struct Plan {
    /// Requests per second while a platform's block runs.
    pub rate: f64,
    /// Load time per platform, split into blocks.
    pub duration: Duration,
    pub connections: usize,
}

impl Plan {
    /// Blocks per platform: 20, or fewer so that none is shorter than 100 ms.
    pub fn blocks(&self) -> u32 {
        let fit = (self.duration.as_secs_f64() / MIN_BLOCK.as_secs_f64()).floor() as u32;
        fit.clamp(1, MAX_BLOCKS)
    }

    fn block(&self) -> OpenLoop {
        OpenLoop {
            rate: self.rate,
            duration: self.duration / self.blocks(),
            connections: self.connections,
            record_raw: true,
        }
    }

    /// Requests one platform gets in all.
    pub fn requests(&self) -> u64 {
        let block = self.block();
        u64::from(self.blocks()) * (block.rate * block.duration.as_secs_f64()).round() as u64
    }
}

/// One platform's warm load: everything merged (`result.raw_ms` block after block), and how
/// many of those latencies each block holds, in block order.
pub struct Measured {
    pub name: &'static str,
    pub result: LoadResult,
    pub block_sizes: Vec<usize>,
}

/// Run the plan on both platforms, alternating blocks; `on_done` is called after every response.
pub fn run(
    sides: [(&'static str, &Target); 2],
    plan: &Plan,
    on_done: &(dyn Fn() + Sync),
) -> anyhow::Result<[Measured; 2]> {
    let block = plan.block();
    let mut connections = [
        Connections::new(plan.connections),
        Connections::new(plan.connections),
    ];
    let mut out = [
        Measured {
            name: sides[0].0,
            result: LoadResult::empty()?,
            block_sizes: Vec::new(),
        },
        Measured {
            name: sides[1].0,
            result: LoadResult::empty()?,
            block_sizes: Vec::new(),
        },
    ];
    for _ in 0..plan.blocks() {
        for which in [0, 1] {
            let (name, target) = sides[which];
            let r = load::open_loop_on(target, &block, &mut connections[which], on_done)
                .map_err(|e| e.context(format!("warm load on {name}")))?;
            let merged = &mut out[which];
            merged.result.requested += r.requested;
            merged.result.elapsed += r.elapsed;
            merged.block_sizes.push(r.raw_ms.len());
            merged.result.merge(r)?;
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blocks_are_at_least_100ms_and_at_most_twenty() {
        let plan = |ms: u64| Plan {
            rate: 200.0,
            duration: Duration::from_millis(ms),
            connections: 2,
        };
        assert_eq!(plan(10_000).blocks(), 20);
        assert_eq!(plan(2_000).blocks(), 20);
        assert_eq!(plan(1_000).blocks(), 10);
        assert_eq!(plan(50).blocks(), 1);
        assert_eq!(plan(2_000).requests(), 400);
    }
}
