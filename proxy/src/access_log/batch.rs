//! A batching writer for the access log: each thread writes its lines into a buffer of its own
//! (an uncontended lock, no wakeup), and one flusher thread writes every buffer to stdout every
//! 50 ms. A channel-based writer (tracing-appender) wakes its worker on every line, which on a
//! busy proxy costs more than formatting the line.

use std::cell::RefCell;
use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

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

static BATCHES: OnceLock<Batches> = OnceLock::new();

thread_local! {
    static LOCAL: RefCell<Option<Buffer>> = const { RefCell::new(None) };
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl Batches {
    /// The process-wide batches, with their flusher thread started on first use.
    pub fn global() -> &'static Batches {
        BATCHES.get_or_init(|| {
            let _ = std::thread::Builder::new().name("access-log".into()).spawn(|| loop {
                std::thread::sleep(FLUSH_EVERY);
                if let Some(batches) = BATCHES.get() {
                    batches.flush();
                }
            });
            Batches::default()
        })
    }

    /// Lets `write` append one line to the calling thread's buffer; the line is taken back out
    /// (and counted as dropped) if it brings the buffer over its bound.
    pub fn write_line(&self, write: impl FnOnce(&mut Vec<u8>)) {
        LOCAL.with(|local| {
            let mut local = local.borrow_mut();
            let buffer = local.get_or_insert_with(|| {
                let b: Buffer = Arc::new(Mutex::new(Vec::with_capacity(64 << 10)));
                lock(&self.buffers).push(b.clone());
                b
            });
            let mut buffer = lock(buffer);
            let before = buffer.len();
            write(&mut buffer);
            if buffer.len() > MAX_BUFFER {
                buffer.truncate(before);
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    /// Writes every buffer to stdout now.
    pub fn flush(&self) {
        let buffers: Vec<Buffer> = lock(&self.buffers).clone();
        let mut out = std::io::stdout().lock();
        for buffer in buffers {
            // The thread gets a buffer of the same size back, so it does not grow it again
            // from empty (a copy per doubling) after every flush.
            let chunk = {
                let mut buffer = lock(&buffer);
                let capacity = buffer.capacity().min(MAX_BUFFER);
                std::mem::replace(&mut *buffer, Vec::with_capacity(capacity))
            };
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
                        b.write_line(|out| out.extend_from_slice(format!("{t}:{i}\n").as_bytes()));
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

    #[test]
    fn a_line_that_overflows_the_bound_is_dropped_whole() {
        let batches = Batches::default();
        batches.write_line(|out| out.extend_from_slice(b"kept\n"));
        batches.write_line(|out| out.resize(out.len() + MAX_BUFFER, b'x'));
        let kept: Vec<Vec<u8>> = lock(&batches.buffers).iter().map(|b| lock(b).clone()).collect();
        assert_eq!(kept, vec![b"kept\n".to_vec()]);
        assert_eq!(batches.dropped(), 1);
    }
}
