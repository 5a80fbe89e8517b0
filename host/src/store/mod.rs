//! The host's SQLite store: calls and their conversation events, plugin state, opt-outs, node
//! runs and waits, messages and the webhook queue. One connection sits behind a mutex, and
//! every statement is short.

mod flow;
mod messaging;

pub use flow::{RunRecord, WaitRecord};
pub use messaging::{InboundRecord, QueuedWebhook, StatusCallback, StatusChange};

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::{Mutex, MutexGuard};

use anyhow::{Context, Result, bail};
use rusqlite::{Connection, OptionalExtension, params};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokio::sync::broadcast;

use crate::config::Telephony;

/// Schema of the store. Statements are idempotent so opening an existing file is safe.
const SCHEMA: &str = "
PRAGMA journal_mode = WAL;
PRAGMA synchronous = NORMAL;
PRAGMA foreign_keys = ON;
CREATE TABLE IF NOT EXISTS calls (
    call_id TEXT PRIMARY KEY,
    direction TEXT NOT NULL,
    caller TEXT NOT NULL,
    agent_number TEXT NOT NULL,
    telephony TEXT NOT NULL,
    active INTEGER NOT NULL,
    variables TEXT NOT NULL,
    started_at TEXT NOT NULL,
    ended_at TEXT
);
CREATE INDEX IF NOT EXISTS calls_by_caller ON calls (caller, active);
CREATE TABLE IF NOT EXISTS call_events (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    call_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    data TEXT NOT NULL,
    at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS call_events_by_call ON call_events (call_id, id);
CREATE TABLE IF NOT EXISTS state (
    owner TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (owner, key)
);
CREATE TABLE IF NOT EXISTS opt_outs (
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    at TEXT NOT NULL,
    PRIMARY KEY (sender, recipient)
);
CREATE TABLE IF NOT EXISTS runs (
    run_id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    status TEXT NOT NULL,
    transition TEXT,
    output TEXT,
    error TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS waits (
    run_id TEXT PRIMARY KEY,
    call_id TEXT NOT NULL,
    node_config TEXT NOT NULL,
    state TEXT NOT NULL,
    message_filters TEXT NOT NULL,
    status_sids TEXT NOT NULL,
    deadline_ms INTEGER NOT NULL,
    after_event_id INTEGER NOT NULL,
    claimed INTEGER NOT NULL DEFAULT 0
);
CREATE INDEX IF NOT EXISTS waits_by_deadline ON waits (claimed, deadline_ms);
CREATE INDEX IF NOT EXISTS waits_by_call ON waits (call_id);
CREATE TABLE IF NOT EXISTS messages (
    message_sid TEXT PRIMARY KEY,
    call_id TEXT,
    direction TEXT NOT NULL,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    status TEXT NOT NULL,
    error_code INTEGER,
    updated_at TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_call ON messages (call_id, sender);
CREATE TABLE IF NOT EXISTS webhook_queue (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    kind TEXT NOT NULL,
    dedupe_key TEXT NOT NULL UNIQUE,
    params TEXT NOT NULL,
    received_at TEXT NOT NULL,
    processed_at TEXT,
    outcome TEXT
);
CREATE INDEX IF NOT EXISTS webhook_queue_pending ON webhook_queue (processed_at, id);
CREATE TABLE IF NOT EXISTS inbound_messages (
    message_sid TEXT PRIMARY KEY,
    call_id TEXT,
    sender TEXT NOT NULL,
    recipient TEXT NOT NULL,
    body TEXT NOT NULL,
    media TEXT NOT NULL,
    routing TEXT NOT NULL,
    received_at TEXT NOT NULL
);
";

/// Call direction: inbound when the caller placed the call, outbound when the agent did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

impl Direction {
    fn as_str(&self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// A call as the host keeps it.
#[derive(Debug, Clone, Serialize)]
pub struct CallRecord {
    pub call_id: String,
    pub direction: Direction,
    pub caller: String,
    pub agent_number: String,
    pub telephony: Telephony,
    pub active: bool,
    pub variables: BTreeMap<String, String>,
    pub started_at: String,
    pub ended_at: Option<String>,
}

impl CallRecord {
    /// Returns a placeholder call for plugin calls made outside any call, such as `describe`.
    pub fn detached() -> CallRecord {
        CallRecord {
            call_id: String::new(),
            direction: Direction::Inbound,
            caller: String::new(),
            agent_number: String::new(),
            telephony: Telephony::Platform,
            active: false,
            variables: BTreeMap::new(),
            started_at: now(),
            ended_at: None,
        }
    }
}

/// One event of a call's conversation.
#[derive(Debug, Clone, Serialize)]
pub struct CallEvent {
    pub id: i64,
    pub call_id: String,
    pub kind: String,
    pub data: Value,
    pub at: String,
}

pub struct Store {
    connection: Mutex<Connection>,
    events: broadcast::Sender<CallEvent>,
}

impl Store {
    /// Opens (and creates if needed) the database file at `path`.
    pub fn open(path: &Path) -> Result<Store> {
        let connection = Connection::open(path)
            .with_context(|| format!("cannot open the SQLite database {}", path.display()))?;
        Self::with_connection(connection)
    }

    /// Opens a private in-memory database, for one-off runs.
    pub fn open_in_memory() -> Result<Store> {
        Self::with_connection(Connection::open_in_memory()?)
    }

    fn with_connection(connection: Connection) -> Result<Store> {
        connection.busy_timeout(std::time::Duration::from_secs(5))?;
        connection.execute_batch(SCHEMA).context("cannot create the database schema")?;
        let (events, _) = broadcast::channel(1024);
        Ok(Store { connection: Mutex::new(connection), events })
    }

    /// Locks the connection. A panic while holding it cannot leave SQLite inconsistent, so a
    /// poisoned lock is taken over.
    pub(crate) fn db(&self) -> MutexGuard<'_, Connection> {
        self.connection.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Records a new call. A call id that is already active is rejected.
    pub fn start_call(&self, call: &CallRecord) -> Result<()> {
        let db = self.db();
        let active: Option<bool> = db
            .query_row("SELECT active FROM calls WHERE call_id = ?1", [&call.call_id], |row| row.get(0))
            .optional()?;
        if active == Some(true) {
            bail!("call {} is already active. End it first or use a new call id", call.call_id);
        }
        db.execute(
            "INSERT OR REPLACE INTO calls (call_id, direction, caller, agent_number, telephony, active, variables, started_at, ended_at)
             VALUES (?1, ?2, ?3, ?4, ?5, 1, ?6, ?7, NULL)",
            params![
                call.call_id,
                call.direction.as_str(),
                call.caller,
                call.agent_number,
                telephony_name(call.telephony),
                serde_json::to_string(&call.variables)?,
                call.started_at,
            ],
        )?;
        Ok(())
    }

    /// Marks a call ended. Returns false when the call is unknown or already ended.
    // TODO: delete the call's plugin state some time after it ends; it is kept for now.
    pub fn end_call(&self, call_id: &str) -> Result<bool> {
        let changed = self.db().execute(
            "UPDATE calls SET active = 0, ended_at = ?2 WHERE call_id = ?1 AND active = 1",
            params![call_id, now()],
        )?;
        Ok(changed > 0)
    }

    pub fn call(&self, call_id: &str) -> Result<Option<CallRecord>> {
        let db = self.db();
        db.query_row(
            "SELECT call_id, direction, caller, agent_number, telephony, active, variables, started_at, ended_at
             FROM calls WHERE call_id = ?1",
            [call_id],
            call_from_row,
        )
        .optional()
        .map_err(Into::into)
    }

    /// Returns the active calls of `caller`, newest first.
    pub fn active_calls_with(&self, caller: &str) -> Result<Vec<CallRecord>> {
        let db = self.db();
        let mut statement = db.prepare(
            "SELECT call_id, direction, caller, agent_number, telephony, active, variables, started_at, ended_at
             FROM calls WHERE caller = ?1 AND active = 1 ORDER BY started_at DESC, rowid DESC",
        )?;
        let calls = statement.query_map([caller], call_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(calls)
    }

    /// Appends an event to a call's conversation and broadcasts it to subscribers.
    pub fn append_event(&self, call_id: &str, kind: &str, data: &Value) -> Result<CallEvent> {
        let db = self.db();
        let event = insert_event(&db, call_id, kind, data)?;
        // Published before the lock is released, so subscribers see events in id order.
        self.publish(&event);
        drop(db);
        Ok(event)
    }

    /// Tells subscribers about a stored event.
    pub(crate) fn publish(&self, event: &CallEvent) {
        // tokio's broadcast send fails only when there are no subscribers. That is not an error,
        // because the event is stored either way.
        let _ = self.events.send(event.clone());
    }

    /// Returns a call's events after event id `after`, oldest first.
    pub fn events(&self, call_id: &str, after: i64) -> Result<Vec<CallEvent>> {
        let db = self.db();
        let mut statement =
            db.prepare("SELECT id, call_id, kind, data, at FROM call_events WHERE call_id = ?1 AND id > ?2 ORDER BY id")?;
        let events = statement
            .query_map(params![call_id, after], |row| {
                let data: String = row.get(3)?;
                Ok(CallEvent {
                    id: row.get(0)?,
                    call_id: row.get(1)?,
                    kind: row.get(2)?,
                    data: serde_json::from_str(&data).unwrap_or(Value::String(data)),
                    at: row.get(4)?,
                })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(events)
    }

    /// Subscribes to the events of every call as they are appended.
    pub fn subscribe(&self) -> broadcast::Receiver<CallEvent> {
        self.events.subscribe()
    }

    pub fn state_get(&self, owner: &str, key: &str) -> Result<Option<String>> {
        let db = self.db();
        db.query_row("SELECT value FROM state WHERE owner = ?1 AND key = ?2", [owner, key], |row| row.get(0))
            .optional()
            .map_err(Into::into)
    }

    pub fn state_set(&self, owner: &str, key: &str, value: &str) -> Result<()> {
        self.db().execute(
            "INSERT INTO state (owner, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (owner, key) DO UPDATE SET value = excluded.value",
            [owner, key, value],
        )?;
        Ok(())
    }

    pub fn state_delete(&self, owner: &str, key: &str) -> Result<()> {
        self.db().execute("DELETE FROM state WHERE owner = ?1 AND key = ?2", [owner, key])?;
        Ok(())
    }

    /// Stores `value` unless `key` has one, and returns the value stored afterwards.
    pub fn state_get_or_insert(&self, owner: &str, key: &str, value: &str) -> Result<String> {
        let db = self.db();
        db.execute("INSERT OR IGNORE INTO state (owner, key, value) VALUES (?1, ?2, ?3)", [owner, key, value])?;
        db.query_row("SELECT value FROM state WHERE owner = ?1 AND key = ?2", [owner, key], |row| row.get(0))
            .map_err(Into::into)
    }

    /// Adds `delta` to the integer at `key` (0 when missing or not an integer) and returns it.
    pub fn state_increment(&self, owner: &str, key: &str, delta: i64) -> Result<i64> {
        let db = self.db();
        db.query_row(
            "INSERT INTO state (owner, key, value) VALUES (?1, ?2, ?3)
             ON CONFLICT (owner, key) DO UPDATE SET value = CAST(CAST(value AS INTEGER) + ?3 AS TEXT)
             RETURNING CAST(value AS INTEGER)",
            params![owner, key, delta],
            |row| row.get(0),
        )
        .map_err(Into::into)
    }

    pub fn opted_out(&self, sender: &str, recipient: &str) -> Result<bool> {
        let db = self.db();
        let found: Option<i64> = db
            .query_row("SELECT 1 FROM opt_outs WHERE sender = ?1 AND recipient = ?2", [sender, recipient], |row| {
                row.get(0)
            })
            .optional()?;
        Ok(found.is_some())
    }

    /// Records an opt-out (`opted_out` true) or an opt-in of `recipient` for `sender`.
    pub fn set_opt_out(&self, sender: &str, recipient: &str, opted_out: bool) -> Result<()> {
        let db = self.db();
        if opted_out {
            db.execute(
                "INSERT OR REPLACE INTO opt_outs (sender, recipient, at) VALUES (?1, ?2, ?3)",
                params![sender, recipient, now()],
            )?;
        } else {
            db.execute("DELETE FROM opt_outs WHERE sender = ?1 AND recipient = ?2", [sender, recipient])?;
        }
        Ok(())
    }
}

/// Stores an event through `connection`, which may be a transaction, without telling
/// subscribers.
pub(crate) fn insert_event(connection: &Connection, call_id: &str, kind: &str, data: &Value) -> Result<CallEvent> {
    let at = now();
    connection.execute(
        "INSERT INTO call_events (call_id, kind, data, at) VALUES (?1, ?2, ?3, ?4)",
        params![call_id, kind, data.to_string(), at],
    )?;
    let id = connection.last_insert_rowid();
    Ok(CallEvent { id, call_id: call_id.to_string(), kind: kind.to_string(), data: data.clone(), at })
}

fn call_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<CallRecord> {
    let direction: String = row.get(1)?;
    let telephony: String = row.get(4)?;
    let variables: String = row.get(6)?;
    Ok(CallRecord {
        call_id: row.get(0)?,
        direction: if direction == "outbound" { Direction::Outbound } else { Direction::Inbound },
        caller: row.get(2)?,
        agent_number: row.get(3)?,
        telephony: if telephony == "custom" { Telephony::Custom } else { Telephony::Platform },
        active: row.get(5)?,
        variables: serde_json::from_str(&variables).unwrap_or_default(),
        started_at: row.get(7)?,
        ended_at: row.get(8)?,
    })
}

fn telephony_name(telephony: Telephony) -> &'static str {
    match telephony {
        Telephony::Platform => "platform",
        Telephony::Custom => "custom",
    }
}

/// Returns the current UTC time in RFC 3339, with milliseconds.
pub fn now() -> String {
    humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string()
}
