//! The watchdog: an actor whose task died is shown as stopped, and a process whose actors stay
//! dead exits for systemd to restart it.

use crate::actors::health::Registry;
use std::sync::Arc;
use std::time::Duration;

/// `Supervisor` restarts an actor that stops, not one whose task died (a panic that escaped the
/// guards). The watchdog checks every second that each supervised actor still has a mailbox; a
/// dead one is shown as `stopped` (so `/readyz` fails) and, if it stays dead, the process exits
/// for systemd to restart it: the work lives in tables, so a restart loses nothing.
pub(super) type Liveness = Box<dyn Fn() -> bool>;

pub(super) fn alive<A: actix::Actor>(addr: &actix::Addr<A>) -> Liveness {
    let addr = addr.clone();
    Box::new(move || addr.connected())
}

pub(super) fn spawn_watchdog(registry: Arc<Registry>, actors: Vec<(&'static str, Liveness)>) {
    actix_rt::spawn(async move {
        let mut tick = actix_rt::time::interval(Duration::from_secs(1));
        let mut dead_for = 0u32;
        loop {
            tick.tick().await;
            let dead: Vec<&str> = actors
                .iter()
                .filter(|(_, is_alive)| !is_alive())
                .map(|(name, _)| *name)
                .collect();
            for name in &dead {
                if let Some(stats) = registry.get(name) {
                    stats.set_stopped();
                }
                log::error!("actor.dead actor={name}");
            }
            dead_for = if dead.is_empty() { 0 } else { dead_for + 1 };
            if dead_for >= 5 {
                log::error!("watchdog.exit actors={dead:?}: exiting so that the service manager restarts leadgate");
                std::process::exit(1);
            }
        }
    });
}
