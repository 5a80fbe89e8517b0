//! Node runs and the waits of nodes that await an event. A wait is a row, not an instance or a
//! thread. It names what resumes it and when it times out, and it survives a restart.

use anyhow::Result;
use rusqlite::{OptionalExtension, params};
use serde::Serialize;
use serde_json::Value;

use super::{Store, now};

/// One run of a node in a call, from its start to its final transition.
#[derive(Debug, Clone, Serialize)]
pub struct RunRecord {
    pub run_id: String,
    pub call_id: String,
    /// `running`, `waiting`, `done` or `error`.
    pub status: String,
    pub transition: Option<String>,
    pub output: Option<Value>,
    pub error: Option<String>,
    pub created_at: String,
    pub updated_at: String,
}

/// A node waiting for an event.
#[derive(Debug, Clone)]
pub struct WaitRecord {
    pub run_id: String,
    pub call_id: String,
    pub node_config: String,
    pub state: String,
    /// JSON list of `{ "sender": ..., "recipients": [...] }`.
    pub message_filters: Value,
    /// JSON list of message sids whose status changes resume the node.
    pub status_sids: Value,
    /// Deadline of the wait, in milliseconds since the Unix epoch.
    pub deadline_ms: i64,
    /// Only call events after this id can resume the wait.
    pub after_event_id: i64,
}

impl Store {
    pub fn insert_run(&self, run_id: &str, call_id: &str) -> Result<()> {
        let at = now();
        self.db().execute(
            "INSERT INTO runs (run_id, call_id, status, created_at, updated_at) VALUES (?1, ?2, 'running', ?3, ?3)",
            params![run_id, call_id, at],
        )?;
        Ok(())
    }

    /// Records a run's new status and, once done, its transition and output.
    pub fn update_run(&self, run_id: &str, status: &str, transition: Option<&str>, output: Option<&Value>, error: Option<&str>) -> Result<()> {
        self.db().execute(
            "UPDATE runs SET status = ?2, transition = ?3, output = ?4, error = ?5, updated_at = ?6 WHERE run_id = ?1",
            params![run_id, status, transition, output.map(Value::to_string), error, now()],
        )?;
        Ok(())
    }

    pub fn run(&self, run_id: &str) -> Result<Option<RunRecord>> {
        let db = self.db();
        db.query_row(
            "SELECT run_id, call_id, status, transition, output, error, created_at, updated_at FROM runs WHERE run_id = ?1",
            [run_id],
            |row| {
                let output: Option<String> = row.get(4)?;
                Ok(RunRecord {
                    run_id: row.get(0)?,
                    call_id: row.get(1)?,
                    status: row.get(2)?,
                    transition: row.get(3)?,
                    output: output.and_then(|text| serde_json::from_str(&text).ok()),
                    error: row.get(5)?,
                    created_at: row.get(6)?,
                    updated_at: row.get(7)?,
                })
            },
        )
        .optional()
        .map_err(Into::into)
    }

    /// Stores a wait, or replaces the wait of the same run, unclaimed.
    pub fn put_wait(&self, wait: &WaitRecord) -> Result<()> {
        self.db().execute(
            "INSERT OR REPLACE INTO waits (run_id, call_id, node_config, state, message_filters, status_sids, deadline_ms, after_event_id, claimed)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, 0)",
            params![
                wait.run_id,
                wait.call_id,
                wait.node_config,
                wait.state,
                wait.message_filters.to_string(),
                wait.status_sids.to_string(),
                wait.deadline_ms,
                wait.after_event_id,
            ],
        )?;
        Ok(())
    }

    /// Claims a wait for resuming. Returns it when this caller won the claim.
    pub fn claim_wait(&self, run_id: &str) -> Result<Option<WaitRecord>> {
        let db = self.db();
        let changed = db.execute("UPDATE waits SET claimed = 1 WHERE run_id = ?1 AND claimed = 0", [run_id])?;
        if changed == 0 {
            return Ok(None);
        }
        db.query_row(&format!("SELECT {WAIT_COLUMNS} FROM waits WHERE run_id = ?1"), [run_id], wait_from_row)
            .optional()
            .map_err(Into::into)
    }

    /// Puts a claimed wait back, for a resume that could not finish.
    pub fn release_wait(&self, run_id: &str) -> Result<()> {
        self.db().execute("UPDATE waits SET claimed = 0 WHERE run_id = ?1", [run_id])?;
        Ok(())
    }

    pub fn delete_wait(&self, run_id: &str) -> Result<()> {
        self.db().execute("DELETE FROM waits WHERE run_id = ?1", [run_id])?;
        Ok(())
    }

    /// Unclaims every wait at start-up, because a claim left by a stopped host would block its
    /// wait forever.
    pub fn release_all_waits(&self) -> Result<usize> {
        Ok(self.db().execute("UPDATE waits SET claimed = 0 WHERE claimed = 1", [])?)
    }

    /// Returns the unclaimed waits of a call.
    pub fn waits_of_call(&self, call_id: &str) -> Result<Vec<WaitRecord>> {
        let db = self.db();
        let mut statement = db.prepare(&format!("SELECT {WAIT_COLUMNS} FROM waits WHERE call_id = ?1 AND claimed = 0"))?;
        let waits = statement.query_map([call_id], wait_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(waits)
    }

    /// Returns the id of the `sms.received` event of a message in a call.
    pub fn received_event_id(&self, call_id: &str, message_sid: &str) -> Result<Option<i64>> {
        let db = self.db();
        db.query_row(
            "SELECT MAX(id) FROM call_events WHERE call_id = ?1 AND kind = 'sms.received' AND json_extract(data, '$.message_sid') = ?2",
            [call_id, message_sid],
            |row| row.get(0),
        )
        .map_err(Into::into)
    }

    /// Returns every unclaimed wait.
    pub fn unclaimed_waits(&self) -> Result<Vec<WaitRecord>> {
        let db = self.db();
        let mut statement = db.prepare(&format!("SELECT {WAIT_COLUMNS} FROM waits WHERE claimed = 0"))?;
        let waits = statement.query_map([], wait_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(waits)
    }

    /// Returns the unclaimed waits whose deadline has passed, earliest first and at most 256.
    pub fn due_waits(&self, now_ms: i64) -> Result<Vec<WaitRecord>> {
        let db = self.db();
        let mut statement =
            db.prepare(&format!("SELECT {WAIT_COLUMNS} FROM waits WHERE claimed = 0 AND deadline_ms <= ?1 ORDER BY deadline_ms LIMIT 256"))?;
        let waits = statement.query_map([now_ms], wait_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(waits)
    }

    /// Returns the earliest deadline of an unclaimed wait.
    pub fn next_deadline(&self) -> Result<Option<i64>> {
        let db = self.db();
        Ok(db.query_row("SELECT MIN(deadline_ms) FROM waits WHERE claimed = 0", [], |row| row.get(0))?)
    }

    pub fn count_waits(&self) -> Result<i64> {
        Ok(self.db().query_row("SELECT COUNT(*) FROM waits", [], |row| row.get(0))?)
    }

    /// Returns the id of the call's newest event, or 0.
    pub fn last_event_id(&self, call_id: &str) -> Result<i64> {
        let db = self.db();
        Ok(db.query_row("SELECT COALESCE(MAX(id), 0) FROM call_events WHERE call_id = ?1", [call_id], |row| row.get(0))?)
    }
}

const WAIT_COLUMNS: &str = "run_id, call_id, node_config, state, message_filters, status_sids, deadline_ms, after_event_id";

fn wait_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<WaitRecord> {
    let filters: String = row.get(4)?;
    let sids: String = row.get(5)?;
    Ok(WaitRecord {
        run_id: row.get(0)?,
        call_id: row.get(1)?,
        node_config: row.get(2)?,
        state: row.get(3)?,
        message_filters: serde_json::from_str(&filters).unwrap_or(Value::Array(vec![])),
        status_sids: serde_json::from_str(&sids).unwrap_or(Value::Array(vec![])),
        deadline_ms: row.get(6)?,
        after_event_id: row.get(7)?,
    })
}
