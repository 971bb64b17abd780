//! Cron schedules (placeholder until the croner-based module lands).

/// A parsed cron expression.
#[derive(Clone, Debug)]
pub struct CronSchedule {
    expr: String,
}

impl CronSchedule {
    /// Parses an expression.
    pub fn parse(expr: &str) -> Result<CronSchedule, String> {
        Err(format!(
            "invalid cron expression '{expr}': cron is not built yet"
        ))
    }
    /// The first fire time strictly after `t`.
    pub fn next_after(
        &self,
        _t: chrono::DateTime<chrono::Local>,
    ) -> Option<chrono::DateTime<chrono::Local>> {
        None
    }
    /// How long from now until the next fire.
    pub fn until_next(&self) -> Option<std::time::Duration> {
        None
    }
    /// The expression as given.
    pub fn expr(&self) -> &str {
        &self.expr
    }
}
