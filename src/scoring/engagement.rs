//! Engagement: how much of the site a visitor saw before they submitted, from their tracked
//! sessions. Pure; a visitor tracking never saw scores 0 (`cold`).

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Engagement {
    pub score: u32,
    pub label: &'static str,
    pub session_duration_seconds: i64,
    pub pages_visited: i64,
    pub return_visits: i64,
}

/// Engagement from what tracking knows of the visitor (all zero when it knows nothing): time and
/// pages over all sessions, and the sessions before the one they submit in.
pub fn engagement_of(activity: Option<&crate::tracking::VisitorActivity>) -> Engagement {
    match activity {
        None => engagement(0, 0, 0),
        Some(a) => engagement(a.seconds_on_site, a.page_views, (a.sessions - 1).max(0)),
    }
}

/// Engagement from the visitor's tracked sessions: up to 40 points for time on the site (full at
/// 10 minutes), 6 a page up to 36 (6 pages), 8 a return visit up to 24 (3 returns); `cold` up to
/// 32, `warm` up to 65, `hot` above.
pub fn engagement(
    session_duration_seconds: i64,
    pages_visited: i64,
    return_visits: i64,
) -> Engagement {
    let time_points = (session_duration_seconds as f64 / 600.0 * 40.0).min(40.0);
    let page_points = (pages_visited as f64 * 6.0).min(36.0);
    let return_points = (return_visits as f64 * 8.0).min(24.0);
    let score = (time_points + page_points + return_points)
        .round()
        .clamp(0.0, 100.0) as u32;
    let label = match score {
        0..=32 => "cold",
        33..=65 => "warm",
        _ => "hot",
    };
    Engagement {
        score,
        label,
        session_duration_seconds,
        pages_visited,
        return_visits,
    }
}
