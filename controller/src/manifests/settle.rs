//! When a file's new content may be used: only once it has settled.
//!
//! A file is read while it is being written more often than one would think: the shell's
//! `> file` and many generators truncate first and write after, so a read in between sees an
//! empty file (which parses as valid: zero documents) or a prefix of the new one (which may
//! parse too, minus its last rules). The source therefore uses new content only once two reads
//! at least [`Settle::changed`] apart agree, and treats a file that lost all its objects, or
//! disappeared, as still being written until it has stayed so for [`Settle::emptied`].
//! Write-then-rename (editors, `kubectl`-style tools), a mounted ConfigMap's `..data` symlink
//! swap and delete-then-recreate all go through the same rule.

use std::time::{Duration, Instant};

use super::parse::{parse, ParseError, Parsed};

/// How long new content must stay unchanged before the source uses it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Settle {
    /// A changed file is used once two reads this far apart return the same bytes.
    pub changed: Duration,
    /// A file that turned empty (or lost all its objects) or was deleted is applied only after
    /// it stayed so this long; until then its last objects keep serving.
    pub emptied: Duration,
}

impl Settle {
    /// The watcher's defaults: 50 ms for a change, 1 s for an emptied or deleted file.
    pub const DEFAULT: Settle =
        Settle { changed: Duration::from_millis(50), emptied: Duration::from_secs(1) };
    /// Use every read at once (the first load at startup, `sluice lint`).
    pub const NONE: Settle = Settle { changed: Duration::ZERO, emptied: Duration::ZERO };
}

impl Default for Settle {
    fn default() -> Self {
        Settle::DEFAULT
    }
}

/// New content seen for a file but not used yet.
#[derive(Debug)]
pub(super) struct Pending {
    /// The bytes read, or None when the file is gone.
    pub content: Option<Vec<u8>>,
    /// Their parse (None for a gone file).
    pub parsed: Option<Result<Parsed, ParseError>>,
    /// When these bytes were first read.
    pub since: Instant,
    /// How long they must stay before they are used.
    pub wait: Duration,
}

impl Pending {
    /// Content just read (None: the file is gone) for a file whose live version has
    /// `live_objects` objects.
    pub fn new(content: Option<Vec<u8>>, live_objects: usize, now: Instant, settle: Settle) -> Self {
        let parsed = content.as_deref().map(|c| parse(&String::from_utf8_lossy(c)));
        let lost_everything = match &parsed {
            None => true,
            Some(Ok(p)) => p.objects.is_empty(),
            Some(Err(_)) => false,
        };
        let wait = if lost_everything && live_objects > 0 { settle.emptied } else { settle.changed };
        Pending { content, parsed, since: now, wait }
    }

    /// When this content may be used.
    pub fn due(&self) -> Instant {
        self.since + self.wait
    }
}
