//! Messages and webhooks: the status of each outbound message, the queue of accepted webhooks
//! (stored before the host responds, so none is lost), and every inbound message with its
//! routing.

use anyhow::Result;
use rusqlite::{Connection, OptionalExtension, params};
use serde::Serialize;
use serde_json::{Value, json};
use smsnode_sms::twilio::status;

use super::{CallEvent, Store, insert_event, now};

/// A webhook accepted and waiting to be processed.
#[derive(Debug, Clone)]
pub struct QueuedWebhook {
    pub id: i64,
    /// `sms` for an inbound message, `status` for a delivery status callback.
    pub kind: String,
    pub params: Vec<(String, String)>,
}

/// An inbound message and its routing.
#[derive(Debug, Clone, Serialize)]
pub struct InboundRecord {
    pub message_sid: String,
    pub call_id: Option<String>,
    pub from: String,
    pub to: String,
    pub body: String,
    pub media: Value,
    /// `call` when it joined a call, otherwise the reason it did not, such as `no_active_call`.
    pub routing: String,
    pub received_at: String,
}

impl Store {
    /// Registers an outbound message of a call. A status already stored by an earlier
    /// callback is kept.
    pub fn register_message(&self, message_sid: &str, call_id: &str, sender: &str, recipient: &str, status: &str) -> Result<()> {
        self.db().execute(
            "INSERT INTO messages (message_sid, call_id, direction, sender, recipient, status, updated_at)
             VALUES (?1, ?2, 'outbound', ?3, ?4, ?5, ?6)
             ON CONFLICT (message_sid) DO UPDATE SET call_id = excluded.call_id, sender = excluded.sender, recipient = excluded.recipient
             WHERE messages.call_id IS NULL OR messages.call_id = excluded.call_id",
            params![message_sid, call_id, sender, recipient, status, now()],
        )?;
        Ok(())
    }

    /// Applies a status callback unless it is stale: a message never moves back, nor away from
    /// a final status. Returns the message's call id when the status changed.
    pub fn apply_status(&self, message_sid: &str, sender: &str, recipient: &str, next: &str, error_code: Option<u32>) -> Result<StatusChange> {
        apply_status_with(&self.db(), message_sid, sender, recipient, next, error_code)
    }

    /// Applies a status callback, stores its `sms.status` event when the status changed, and
    /// marks the webhook processed, in one transaction. A stop between the steps therefore
    /// cannot apply the callback without its event, nor process it twice.
    pub fn finish_status(&self, webhook_id: i64, update: &StatusCallback<'_>) -> Result<(StatusChange, Option<CallEvent>)> {
        let mut db = self.db();
        let transaction = db.transaction()?;
        let change = apply_status_with(&transaction, update.message_sid, update.sender, update.recipient, update.status, update.error_code)?;
        let event = match &change {
            StatusChange::Changed { call_id: Some(call_id) } => {
                let data = json!({ "message_sid": update.message_sid, "status": update.status, "error_code": update.error_code });
                Some(insert_event(&transaction, call_id, "sms.status", &data)?)
            }
            _ => None,
        };
        let outcome = match &change {
            StatusChange::Changed { .. } => format!("status {}", update.status),
            StatusChange::Stale { current } => format!("stale: already {current}"),
        };
        mark_processed(&transaction, webhook_id, &outcome)?;
        transaction.commit()?;
        // Published before the lock is released, so subscribers see events in id order.
        if let Some(event) = &event {
            self.publish(event);
        }
        drop(db);
        Ok((change, event))
    }

    /// Stores a routed inbound message, its `sms.received` event (when it joined a call) and
    /// the webhook's completion in one transaction, so a stop between them cannot process the
    /// message twice.
    pub fn finish_inbound(&self, webhook_id: i64, record: &InboundRecord, event_data: Option<&Value>) -> Result<Option<CallEvent>> {
        let mut db = self.db();
        let transaction = db.transaction()?;
        insert_inbound(&transaction, record)?;
        let event = match (event_data, &record.call_id) {
            (Some(data), Some(call_id)) => Some(insert_event(&transaction, call_id, "sms.received", data)?),
            _ => None,
        };
        mark_processed(&transaction, webhook_id, &record.routing)?;
        transaction.commit()?;
        // Published before the lock is released, so subscribers see events in id order.
        if let Some(event) = &event {
            self.publish(event);
        }
        drop(db);
        Ok(event)
    }

    /// Returns a message's current status and error code.
    pub fn message_status(&self, message_sid: &str) -> Result<Option<(String, Option<u32>)>> {
        let db = self.db();
        db.query_row("SELECT status, error_code FROM messages WHERE message_sid = ?1", [message_sid], |row| Ok((row.get(0)?, row.get(1)?)))
            .optional()
            .map_err(Into::into)
    }

    /// Returns a call's outbound messages with their status.
    pub fn call_messages(&self, call_id: &str) -> Result<Vec<(String, String)>> {
        let db = self.db();
        let mut statement = db.prepare("SELECT message_sid, status FROM messages WHERE call_id = ?1")?;
        let messages = statement.query_map([call_id], |row| Ok((row.get(0)?, row.get(1)?)))?.collect::<Result<Vec<_>, _>>()?;
        Ok(messages)
    }

    /// Returns the numbers that a call's messages went out from.
    pub fn call_senders(&self, call_id: &str) -> Result<Vec<String>> {
        let db = self.db();
        let mut statement = db.prepare("SELECT DISTINCT sender FROM messages WHERE call_id = ?1")?;
        let senders = statement.query_map([call_id], |row| row.get(0))?.collect::<Result<Vec<String>, _>>()?;
        Ok(senders)
    }

    /// Returns the newest active call that sent a message from `sender` to `recipient`.
    pub fn active_call_that_texted(&self, sender: &str, recipient: &str) -> Result<Option<String>> {
        let db = self.db();
        db.query_row(
            "SELECT messages.call_id FROM messages JOIN calls ON calls.call_id = messages.call_id
             WHERE messages.sender = ?1 AND messages.recipient = ?2 AND calls.active = 1
             ORDER BY messages.updated_at DESC LIMIT 1",
            [sender, recipient],
            |row| row.get(0),
        )
        .optional()
        .map_err(Into::into)
    }

    /// Stores an accepted webhook. Returns false for a duplicate (the same `dedupe_key`, such as
    /// a retried `MessageSid`), which is then not processed again.
    pub fn enqueue_webhook(&self, kind: &str, dedupe_key: &str, params: &[(String, String)]) -> Result<bool> {
        let changed = self.db().execute(
            "INSERT OR IGNORE INTO webhook_queue (kind, dedupe_key, params, received_at) VALUES (?1, ?2, ?3, ?4)",
            params![kind, dedupe_key, serde_json::to_string(params)?, now()],
        )?;
        Ok(changed > 0)
    }

    /// Returns the oldest webhooks not processed yet, at most `limit`.
    pub fn pending_webhooks(&self, limit: usize) -> Result<Vec<QueuedWebhook>> {
        let db = self.db();
        let mut statement = db.prepare("SELECT id, kind, params FROM webhook_queue WHERE processed_at IS NULL ORDER BY id LIMIT ?1")?;
        let rows = statement
            .query_map([limit as i64], |row| {
                let params: String = row.get(2)?;
                Ok(QueuedWebhook { id: row.get(0)?, kind: row.get(1)?, params: serde_json::from_str(&params).unwrap_or_default() })
            })?
            .collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }

    pub fn finish_webhook(&self, id: i64, outcome: &str) -> Result<()> {
        mark_processed(&self.db(), id, outcome)
    }

    pub fn count_pending_webhooks(&self) -> Result<i64> {
        Ok(self.db().query_row("SELECT COUNT(*) FROM webhook_queue WHERE processed_at IS NULL", [], |row| row.get(0))?)
    }

    pub fn record_inbound(&self, record: &InboundRecord) -> Result<()> {
        insert_inbound(&self.db(), record)
    }

    /// Returns the inbound messages that joined no call, newest first.
    pub fn unrouted_inbound(&self, limit: usize) -> Result<Vec<InboundRecord>> {
        self.inbound_where("call_id IS NULL", limit)
    }

    pub fn inbound(&self, message_sid: &str) -> Result<Option<InboundRecord>> {
        let db = self.db();
        db.query_row(
            "SELECT message_sid, call_id, sender, recipient, body, media, routing, received_at FROM inbound_messages WHERE message_sid = ?1",
            [message_sid],
            inbound_from_row,
        )
        .optional()
        .map_err(Into::into)
    }

    fn inbound_where(&self, condition: &str, limit: usize) -> Result<Vec<InboundRecord>> {
        let db = self.db();
        let mut statement = db.prepare(&format!(
            "SELECT message_sid, call_id, sender, recipient, body, media, routing, received_at FROM inbound_messages
             WHERE {condition} ORDER BY received_at DESC LIMIT ?1"
        ))?;
        let rows = statement.query_map([limit as i64], inbound_from_row)?.collect::<Result<Vec<_>, _>>()?;
        Ok(rows)
    }
}

/// Effect of a status callback on the stored message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatusChange {
    Changed { call_id: Option<String> },
    /// The callback was older than the stored status, or the stored status is final.
    Stale { current: String },
}

/// A delivery status callback's fields.
#[derive(Debug, Clone, Copy)]
pub struct StatusCallback<'a> {
    pub message_sid: &'a str,
    pub sender: &'a str,
    pub recipient: &'a str,
    pub status: &'a str,
    pub error_code: Option<u32>,
}

fn apply_status_with(
    connection: &Connection,
    message_sid: &str,
    sender: &str,
    recipient: &str,
    next: &str,
    error_code: Option<u32>,
) -> Result<StatusChange> {
    let current: Option<(String, Option<String>)> = connection
        .query_row("SELECT status, call_id FROM messages WHERE message_sid = ?1", [message_sid], |row| Ok((row.get(0)?, row.get(1)?)))
        .optional()?;
    match current {
        None => {
            connection.execute(
                "INSERT INTO messages (message_sid, call_id, direction, sender, recipient, status, error_code, updated_at)
                 VALUES (?1, NULL, 'outbound', ?2, ?3, ?4, ?5, ?6)",
                params![message_sid, sender, recipient, next, error_code, now()],
            )?;
            Ok(StatusChange::Changed { call_id: None })
        }
        Some((current, call_id)) if status::may_replace(&current, next) => {
            connection.execute(
                "UPDATE messages SET status = ?2, error_code = ?3, updated_at = ?4 WHERE message_sid = ?1",
                params![message_sid, next, error_code, now()],
            )?;
            Ok(StatusChange::Changed { call_id })
        }
        Some((current, _)) => Ok(StatusChange::Stale { current }),
    }
}

fn insert_inbound(connection: &Connection, record: &InboundRecord) -> Result<()> {
    connection.execute(
        "INSERT OR REPLACE INTO inbound_messages (message_sid, call_id, sender, recipient, body, media, routing, received_at)
         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        params![
            record.message_sid,
            record.call_id,
            record.from,
            record.to,
            record.body,
            record.media.to_string(),
            record.routing,
            record.received_at,
        ],
    )?;
    Ok(())
}

fn mark_processed(connection: &Connection, id: i64, outcome: &str) -> Result<()> {
    connection.execute("UPDATE webhook_queue SET processed_at = ?2, outcome = ?3 WHERE id = ?1", params![id, now(), outcome])?;
    Ok(())
}

fn inbound_from_row(row: &rusqlite::Row<'_>) -> rusqlite::Result<InboundRecord> {
    let media: String = row.get(5)?;
    Ok(InboundRecord {
        message_sid: row.get(0)?,
        call_id: row.get(1)?,
        from: row.get(2)?,
        to: row.get(3)?,
        body: row.get(4)?,
        media: serde_json::from_str(&media).unwrap_or(Value::Array(vec![])),
        routing: row.get(6)?,
        received_at: row.get(7)?,
    })
}
