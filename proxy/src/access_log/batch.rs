//! A batching writer for the access log: each thread appends its lines to a buffer of its own
//! (an uncontended lock, no wakeup), and one flusher thread writes every buffer to stdout every
//! 50 ms. A channel-based writer (tracing-appender) wakes its worker on every line, which on a
//! busy proxy costs more than formatting the line.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use tracing_subscriber::fmt::MakeWriter;

/// A thread's buffer holds at most this much; beyond it (the flusher stalled) lines are dropped.
const MAX_BUFFER: usize = 8 << 20;
/// How often buffers reach stdout.
const FLUSH_EVERY: Duration = Duration::from_millis(50);

type Buffer = Arc<Mutex<Vec<u8>>>;

/// Every thread's buffer, and the count of dropped lines.
#[derive(Debug, Default)]
pub struct Batches {
    buffers: Mutex<Vec<Buffer>>,
    dropped: AtomicU64,
}

static BATCHES: OnceLock<Arc<Batches>> = OnceLock::new();

thread_local! {
    static LOCAL: RefCell<Option<Buffer>> = const { RefCell::new(None) };
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Batches {
    /// The process-wide batches, with their flusher thread started on first use.
    pub fn global() -> Arc<Batches> {
        BATCHES
            .get_or_init(|| {
                let batches = Arc::new(Batches::default());
                let flusher = batches.clone();
                let _ = std::thread::Builder::new().name("access-log".into()).spawn(move || loop {
                    std::thread::sleep(FLUSH_EVERY);
                    flusher.flush();
                });
                batches
            })
            .clone()
    }

    fn append(&self, line: &[u8]) {
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let buffer = local.get_or_insert_with(|| {
                let b: Buffer = Arc::new(Mutex::new(Vec::with_capacity(64 << 10)));
                lock(&self.buffers).push(b.clone());
                b
            });
            let mut buffer = lock(buffer);
            if buffer.len() + line.len() > MAX_BUFFER {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            } else {
                buffer.extend_from_slice(line);
            }
        });
    }

    /// Writes every buffer to stdout now.
    pub fn flush(&self) {
        let buffers: Vec<Buffer> = lock(&self.buffers).clone();
        let mut out = std::io::stdout().lock();
        for buffer in buffers {
            let chunk = std::mem::take(&mut *lock(&buffer));
            if !chunk.is_empty() {
                let _ = out.write_all(&chunk);
            }
        }
        let _ = out.flush();
    }

    /// Lines dropped because a buffer was full.
    pub fn dropped(&self) -> u64 {
        self.dropped.load(Ordering::Relaxed)
    }
}

/// Flushes the access log if it was ever used (before the process exits).
pub fn flush() {
    if let Some(batches) = BATCHES.get() {
        batches.flush();
    }
}

/// The `MakeWriter` for the access-log layer.
#[derive(Debug, Clone)]
pub struct BatchWriter(Arc<Batches>);

impl BatchWriter {
    /// A writer into the process-wide batches.
    pub fn new() -> Self {
        BatchWriter(Batches::global())
    }
}

impl Default for BatchWriter {
    fn default() -> Self {
        Self::new()
    }
}

/// Appends what the formatter writes to the calling thread's buffer.
#[derive(Debug)]
pub struct LineSink(Arc<Batches>);

impl Write for LineSink {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.append(buf);
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl<'a> MakeWriter<'a> for BatchWriter {
    type Writer = LineSink;

    fn make_writer(&'a self) -> LineSink {
        LineSink(self.0.clone())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_from_several_threads_are_all_kept_in_order_per_thread() {
        let batches = Arc::new(Batches::default());
        let handles: Vec<_> = (0..4)
            .map(|t| {
                let b = batches.clone();
                std::thread::spawn(move || {
                    for i in 0..100 {
                        b.append(format!("{t}:{i}\n").as_bytes());
                    }
                })
            })
            .collect();
        handles.into_iter().for_each(|h| h.join().expect("thread"));
        let all: Vec<String> = lock(&batches.buffers)
            .iter()
            .map(|b| String::from_utf8(lock(b).clone()).expect("utf-8"))
            .collect();
        assert_eq!(all.len(), 4);
        for text in all {
            let lines: Vec<&str> = text.lines().collect();
            assert_eq!(lines.len(), 100);
            let t = lines[0].split(':').next().expect("thread id");
            for (i, l) in lines.iter().enumerate() {
                assert_eq!(*l, format!("{t}:{i}"));
            }
        }
        assert_eq!(batches.dropped(), 0);
    }
}
