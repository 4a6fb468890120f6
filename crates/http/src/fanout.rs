//! In-memory fan-out of tenant changes to the event streams open in this process.
//!
//! The database tells the process that a tenant changed (one `LISTEN` connection, see
//! `mgmt_persistence::notify`; the server feeds its signals to [`EventsHub::changed`] and
//! [`EventsHub::missed`]). The hub keeps one *topic* per tenant that has open streams: a wake-up makes
//! the topic read the tenant and its new events **once**, whatever the number of streams, and hand the
//! result to every subscriber. Nothing polls: an idle stream costs no query.
//!
//! Each subscriber has a bounded channel. A subscriber whose channel is full (its client does not read)
//! is dropped, not buffered for: its stream ends and the client falls back to polling `/status`.
//! Wake-ups of one topic coalesce (a burst of commits while a read runs makes one more read).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use mgmt_domain::{RepoError, Repositories, Tenant, TenantEvent, TenantId};
use tokio::sync::{Notify, mpsc};

/// Most events one read of a topic asks the repository for at a time (it pages on).
const PAGE: i64 = 200;

/// What a topic read found, shared by every subscriber of the tenant.
// Built once per read and shared behind an `Arc`: the size of the small variant does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Update {
    /// The tenant as it is now and its events after the lowest position any subscriber had, in order
    /// (the state was read first: a terminal state's events are among these).
    Changed {
        tenant: Tenant,
        events: Vec<TenantEvent>,
    },
    /// The read failed (storage, or the tenant is gone): the streams end.
    Failed,
}

/// The process-wide hub; cheap to clone.
#[derive(Clone)]
pub struct EventsHub {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for EventsHub {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("EventsHub")
            .field("topics", &self.open_topics())
            .field("subscribers", &self.open_subscribers())
            .finish()
    }
}

struct Inner {
    repos: Repositories,
    /// Updates a subscriber may have waiting before it counts as slow.
    capacity: usize,
    topics: Mutex<HashMap<TenantId, Topic>>,
    next_id: AtomicU64,
}

struct Topic {
    shared: Arc<TopicShared>,
    subscribers: Vec<Subscriber>,
}

struct TopicShared {
    wake: Notify,
}

struct Subscriber {
    id: u64,
    /// The last event id this subscriber has (from its opening read, then from what it was sent).
    cursor: i64,
    tx: mpsc::Sender<Arc<Update>>,
}

/// One stream's place in the hub; leaving it (drop) unsubscribes at once.
#[derive(Debug)]
pub struct Subscription {
    hub: EventsHub,
    tenant: TenantId,
    id: u64,
    rx: mpsc::Receiver<Arc<Update>>,
}

impl Subscription {
    /// The next update; `None` once the hub dropped this subscriber (it was too slow).
    pub async fn recv(&mut self) -> Option<Arc<Update>> {
        self.rx.recv().await
    }
}

impl Drop for Subscription {
    fn drop(&mut self) {
        self.hub.unsubscribe(self.tenant, self.id);
    }
}

impl EventsHub {
    /// `capacity`: updates a subscriber may have queued before it is dropped as slow (at least 1).
    pub fn new(repos: Repositories, capacity: usize) -> Self {
        Self {
            inner: Arc::new(Inner {
                repos,
                capacity: capacity.max(1),
                topics: Mutex::new(HashMap::new()),
                next_id: AtomicU64::new(1),
            }),
        }
    }

    fn topics(&self) -> std::sync::MutexGuard<'_, HashMap<TenantId, Topic>> {
        // The map stays consistent across a panic (every change is a single insert or remove).
        self.inner.topics.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Follows `tenant` from event id `cursor` (what the subscriber already has). The topic reads once
    /// right away, so whatever committed between the caller's own read and this call is delivered.
    pub fn subscribe(&self, tenant: TenantId, cursor: i64) -> Subscription {
        let id = self.inner.next_id.fetch_add(1, Ordering::Relaxed);
        let (tx, rx) = mpsc::channel(self.inner.capacity);
        let mut topics = self.topics();
        let topic = topics.entry(tenant).or_insert_with(|| {
            let shared = Arc::new(TopicShared {
                wake: Notify::new(),
            });
            tokio::spawn(run_topic(self.clone(), tenant, shared.clone()));
            Topic {
                shared,
                subscribers: Vec::new(),
            }
        });
        topic.subscribers.push(Subscriber { id, cursor, tx });
        topic.shared.wake.notify_one();
        drop(topics);
        Subscription {
            hub: self.clone(),
            tenant,
            id,
            rx,
        }
    }

    fn unsubscribe(&self, tenant: TenantId, id: u64) {
        let mut topics = self.topics();
        if let Some(topic) = topics.get_mut(&tenant) {
            topic.subscribers.retain(|s| s.id != id);
            if topic.subscribers.is_empty() {
                let topic = topics.remove(&tenant).expect("present");
                // Lets the topic's task see it is gone and end.
                topic.shared.wake.notify_one();
            }
        }
    }

    /// A transaction that wrote `tenant` committed: its streams (if any here) read once.
    pub fn changed(&self, tenant: TenantId) {
        if let Some(topic) = self.topics().get(&tenant) {
            topic.shared.wake.notify_one();
        }
    }

    /// Notifications may have been lost: every open tenant reads once (not every stream).
    pub fn missed(&self) {
        for topic in self.topics().values() {
            topic.shared.wake.notify_one();
        }
    }

    /// Tenants with at least one open stream here.
    pub fn open_topics(&self) -> usize {
        self.topics().len()
    }

    /// Streams subscribed here.
    pub fn open_subscribers(&self) -> usize {
        self.topics().values().map(|t| t.subscribers.len()).sum()
    }

    /// The lowest cursor of the topic's subscribers, or `None` when the topic is gone (or replaced).
    fn cursor_of(&self, tenant: TenantId, shared: &Arc<TopicShared>) -> Option<i64> {
        let topics = self.topics();
        let topic = topics
            .get(&tenant)
            .filter(|t| Arc::ptr_eq(&t.shared, shared))?;
        topic.subscribers.iter().map(|s| s.cursor).min()
    }

    /// Hands `update` to every subscriber; drops those that are full (slow) or gone. `false` when the
    /// topic is gone (its task ends).
    fn deliver(&self, tenant: TenantId, shared: &Arc<TopicShared>, update: Update) -> bool {
        let last = match &update {
            Update::Changed { events, .. } => events.last().map(|e| e.id),
            Update::Failed => None,
        };
        let update = Arc::new(update);
        let mut topics = self.topics();
        let Some(topic) = topics
            .get_mut(&tenant)
            .filter(|t| Arc::ptr_eq(&t.shared, shared))
        else {
            return false;
        };
        topic.subscribers.retain_mut(|s| match s.tx.try_send(update.clone()) {
            Ok(()) => {
                if let Some(last) = last {
                    s.cursor = s.cursor.max(last);
                }
                true
            }
            Err(mpsc::error::TrySendError::Full(_)) => {
                tracing::info!(tenant_id = %tenant, "events stream dropped: the client does not keep up");
                false
            }
            Err(mpsc::error::TrySendError::Closed(_)) => false,
        });
        if topic.subscribers.is_empty() {
            topics.remove(&tenant);
            return false;
        }
        true
    }
}

/// A topic's task: waits for a wake-up, reads the tenant once, delivers; ends when the topic is gone.
async fn run_topic(hub: EventsHub, tenant: TenantId, shared: Arc<TopicShared>) {
    loop {
        shared.wake.notified().await;
        let Some(after) = hub.cursor_of(tenant, &shared) else {
            return;
        };
        let update = match read(&hub.inner.repos, tenant, after).await {
            Ok((tenant, events)) => Update::Changed { tenant, events },
            Err(e) => {
                tracing::warn!(tenant_id = %tenant, error = %e, "events stream: tenant read failed");
                Update::Failed
            }
        };
        if !hub.deliver(tenant, &shared, update) {
            return;
        }
    }
}

/// The tenant, then its events after `after` (every page).
async fn read(
    repos: &Repositories,
    id: TenantId,
    mut after: i64,
) -> Result<(Tenant, Vec<TenantEvent>), RepoError> {
    // State before events: if the state is terminal, every event leading to it is already stored (a
    // state change and its event are written in one transaction).
    let tenant = repos.tenants.get(id).await?;
    let mut events = Vec::new();
    loop {
        let page = repos.events.list_after(id, after, PAGE).await?;
        let full = page.len() as i64 == PAGE;
        if let Some(last) = page.last() {
            after = last.id;
        }
        events.extend(page);
        if !full {
            return Ok((tenant, events));
        }
    }
}
