//! The few SQLite C functions the store writer needs, bound at run time to the very library
//! Python's `sqlite3` module uses.
//!
//! Why not rusqlite: two copies of SQLite in one process corrupt databases (each keeps its own
//! table of POSIX locks, and closing a file in one drops the other's locks; see "How To Corrupt
//! An SQLite Database File", §2.2.1). The store reads through Python's `sqlite3`, so the writer
//! must use the same library instance. [`Api::load`] proves it is: it takes the already loaded
//! `_sqlite3` extension (`RTLD_NOLOAD`), looks every function up through that handle (the
//! object and the libraries it was linked against, i.e. what `_sqlite3` itself calls), and
//! requires the library's version to be the one Python's `sqlite3` reports. Where that cannot
//! be shown the store commits through Python's `sqlite3` instead.

use std::cell::RefCell;
use std::collections::HashMap;
use std::ffi::{c_char, c_int, c_void, CStr, CString};
use std::ptr;

#[allow(non_camel_case_types)]
type sqlite3 = c_void;
#[allow(non_camel_case_types)]
type sqlite3_stmt = c_void;

pub(crate) const SQLITE_OK: c_int = 0;
pub(crate) const SQLITE_ROW: c_int = 100;
pub(crate) const SQLITE_DONE: c_int = 101;
const SQLITE_OPEN_READWRITE: c_int = 0x2;
const SQLITE_OPEN_NOMUTEX: c_int = 0x8000;
const SQLITE_UTF8: u8 = 1;
const SQLITE_LIMIT_LENGTH: c_int = 0;
const RTLD_NOW: c_int = 2;
/// `RTLD_NOLOAD`: hand back a library only if it is loaded already.
#[cfg(any(target_os = "linux", target_os = "android"))]
const RTLD_NOLOAD: Option<c_int> = Some(4);
#[cfg(any(target_os = "macos", target_os = "ios"))]
const RTLD_NOLOAD: Option<c_int> = Some(0x10);
#[cfg(not(any(
    target_os = "linux",
    target_os = "android",
    target_os = "macos",
    target_os = "ios"
)))]
const RTLD_NOLOAD: Option<c_int> = None;
/// `SQLITE_TRANSIENT`: SQLite copies bound text and blobs.
const TRANSIENT: isize = -1;
/// The most statements a connection keeps prepared between batches ([`Conn::cached`]): the
/// store's own statements are a dozen; the bound only matters should callers make new texts.
const CACHE_MAX: usize = 64;

extern "C" {
    fn dlopen(filename: *const c_char, flag: c_int) -> *mut c_void;
    fn dlsym(handle: *mut c_void, symbol: *const c_char) -> *mut c_void;
}

type Destructor = isize;

/// Function pointers into the loaded library.
pub(crate) struct Api {
    open_v2: unsafe extern "C" fn(*const c_char, *mut *mut sqlite3, c_int, *const c_char) -> c_int,
    close_v2: unsafe extern "C" fn(*mut sqlite3) -> c_int,
    exec: unsafe extern "C" fn(
        *mut sqlite3,
        *const c_char,
        *const c_void,
        *mut c_void,
        *mut *mut c_char,
    ) -> c_int,
    errmsg: unsafe extern "C" fn(*mut sqlite3) -> *const c_char,
    prepare_v2: unsafe extern "C" fn(
        *mut sqlite3,
        *const c_char,
        c_int,
        *mut *mut sqlite3_stmt,
        *mut *const c_char,
    ) -> c_int,
    step: unsafe extern "C" fn(*mut sqlite3_stmt) -> c_int,
    reset: unsafe extern "C" fn(*mut sqlite3_stmt) -> c_int,
    clear_bindings: unsafe extern "C" fn(*mut sqlite3_stmt) -> c_int,
    finalize: unsafe extern "C" fn(*mut sqlite3_stmt) -> c_int,
    bind_int64: unsafe extern "C" fn(*mut sqlite3_stmt, c_int, i64) -> c_int,
    bind_double: unsafe extern "C" fn(*mut sqlite3_stmt, c_int, f64) -> c_int,
    bind_null: unsafe extern "C" fn(*mut sqlite3_stmt, c_int) -> c_int,
    // The 64-bit length variants: a length never has to be narrowed (and so never wraps);
    // SQLite itself refuses one above its length limit with SQLITE_TOOBIG.
    bind_text64:
        unsafe extern "C" fn(*mut sqlite3_stmt, c_int, *const c_char, u64, Destructor, u8) -> c_int,
    bind_blob64:
        unsafe extern "C" fn(*mut sqlite3_stmt, c_int, *const c_void, u64, Destructor) -> c_int,
    column_int64: unsafe extern "C" fn(*mut sqlite3_stmt, c_int) -> i64,
    get_autocommit: unsafe extern "C" fn(*mut sqlite3) -> c_int,
    limit: unsafe extern "C" fn(*mut sqlite3, c_int, c_int) -> c_int,
}

macro_rules! sym {
    ($lib:expr, $name:literal) => {{
        let name = concat!($name, "\0");
        // SAFETY: dlsym with a NUL-terminated name; the pointer is checked for null and cast
        // to the documented signature of that SQLite function.
        let p = unsafe { dlsym($lib, name.as_ptr().cast()) };
        if p.is_null() {
            return Err(format!("no {} reachable from the _sqlite3 extension", $name));
        }
        #[allow(clippy::missing_transmute_annotations)]
        unsafe {
            std::mem::transmute::<*mut c_void, _>(p)
        }
    }};
}

impl Api {
    /// Bind the SQLite functions of the library the loaded `_sqlite3` extension at
    /// `extension` uses, and check that its version number is `expected` (Python's
    /// `sqlite3.sqlite_version_info` as `major * 1_000_000 + minor * 1000 + patch`).
    pub(crate) fn load(extension: &str, expected: i64) -> Result<Api, String> {
        let Some(noload) = RTLD_NOLOAD else {
            return Err("RTLD_NOLOAD is unknown on this platform".into());
        };
        let c = CString::new(extension).map_err(|e| e.to_string())?;
        // SAFETY: dlopen of a path with RTLD_NOLOAD loads nothing: it returns a handle to the
        // already loaded extension (or null). The handle is never closed: `_sqlite3` stays
        // loaded for the life of the process.
        let lib = unsafe { dlopen(c.as_ptr(), RTLD_NOW | noload) };
        if lib.is_null() {
            return Err(format!("{extension} is not loaded"));
        }
        let libversion_number: unsafe extern "C" fn() -> c_int =
            sym!(lib, "sqlite3_libversion_number");
        // SAFETY: a function without arguments returning a constant.
        let found = i64::from(unsafe { libversion_number() });
        if found != expected {
            return Err(format!(
                "the SQLite library reached from _sqlite3 is version {found}, Python's sqlite3 \
                 reports {expected}"
            ));
        }
        Ok(Api {
            open_v2: sym!(lib, "sqlite3_open_v2"),
            close_v2: sym!(lib, "sqlite3_close_v2"),
            exec: sym!(lib, "sqlite3_exec"),
            errmsg: sym!(lib, "sqlite3_errmsg"),
            prepare_v2: sym!(lib, "sqlite3_prepare_v2"),
            step: sym!(lib, "sqlite3_step"),
            reset: sym!(lib, "sqlite3_reset"),
            clear_bindings: sym!(lib, "sqlite3_clear_bindings"),
            finalize: sym!(lib, "sqlite3_finalize"),
            bind_int64: sym!(lib, "sqlite3_bind_int64"),
            bind_double: sym!(lib, "sqlite3_bind_double"),
            bind_null: sym!(lib, "sqlite3_bind_null"),
            bind_text64: sym!(lib, "sqlite3_bind_text64"),
            bind_blob64: sym!(lib, "sqlite3_bind_blob64"),
            column_int64: sym!(lib, "sqlite3_column_int64"),
            get_autocommit: sym!(lib, "sqlite3_get_autocommit"),
            limit: sym!(lib, "sqlite3_limit"),
        })
    }
}

/// One open connection (used by one thread at a time: the store's writer thread).
pub(crate) struct Conn {
    api: Api,
    db: *mut sqlite3,
    /// Statements kept prepared between batches, by SQL text ([`Conn::cached`]).
    cache: RefCell<HashMap<String, *mut sqlite3_stmt>>,
}

// SAFETY: the connection is opened NOMUTEX and only ever used behind the writer's Mutex.
unsafe impl Send for Conn {}

/// A prepared statement; finalized on drop, or given back to its connection's cache when it
/// came from [`Conn::cached`].
pub(crate) struct Stmt<'c> {
    conn: &'c Conn,
    raw: *mut sqlite3_stmt,
    /// the SQL text to cache it under when dropped (None: finalize it)
    cached: Option<String>,
}

/// A parameter value.
pub(crate) enum Val<'a> {
    Null,
    Int(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

impl Conn {
    pub(crate) fn open(api: Api, path: &str) -> Result<Conn, String> {
        let c = CString::new(path).map_err(|e| e.to_string())?;
        let mut db = ptr::null_mut();
        // SAFETY: valid NUL-terminated path and out-pointer; the handle is closed on drop.
        let rc = unsafe {
            (api.open_v2)(
                c.as_ptr(),
                &mut db,
                SQLITE_OPEN_READWRITE | SQLITE_OPEN_NOMUTEX,
                ptr::null(),
            )
        };
        let conn = Conn { api, db, cache: RefCell::new(HashMap::new()) };
        if rc != SQLITE_OK {
            return Err(format!("cannot open {path}: {}", conn.error()));
        }
        Ok(conn)
    }

    pub(crate) fn error(&self) -> String {
        if self.db.is_null() {
            return "out of memory".into();
        }
        // SAFETY: errmsg returns a NUL-terminated string owned by the connection.
        unsafe { CStr::from_ptr((self.api.errmsg)(self.db)) }.to_string_lossy().into_owned()
    }

    pub(crate) fn exec(&self, sql: &str) -> Result<(), String> {
        let c = CString::new(sql).map_err(|e| e.to_string())?;
        // SAFETY: valid handle and statement text; no callback.
        let rc = unsafe {
            (self.api.exec)(self.db, c.as_ptr(), ptr::null(), ptr::null_mut(), ptr::null_mut())
        };
        if rc == SQLITE_OK {
            Ok(())
        } else {
            Err(self.error())
        }
    }

    pub(crate) fn in_transaction(&self) -> bool {
        // SAFETY: valid handle.
        unsafe { (self.api.get_autocommit)(self.db) == 0 }
    }

    /// Set the longest string or blob, in bytes, this connection accepts (`SQLITE_LIMIT_LENGTH`;
    /// SQLite caps it at its compile-time maximum, and a negative `limit` changes nothing) and
    /// return the limit in force before.
    pub(crate) fn limit_length(&self, limit: c_int) -> c_int {
        // SAFETY: valid handle; sqlite3_limit only reads or lowers a per-connection setting.
        unsafe { (self.api.limit)(self.db, SQLITE_LIMIT_LENGTH, limit) }
    }

    pub(crate) fn prepare(&self, sql: &str) -> Result<Stmt<'_>, String> {
        let c = CString::new(sql).map_err(|e| e.to_string())?;
        let mut raw = ptr::null_mut();
        // SAFETY: valid handle, statement text and out-pointer.
        let rc =
            unsafe { (self.api.prepare_v2)(self.db, c.as_ptr(), -1, &mut raw, ptr::null_mut()) };
        if rc != SQLITE_OK {
            return Err(self.error());
        }
        Ok(Stmt { conn: self, raw, cached: None })
    }

    /// Like [`Conn::prepare`], but the statement is kept prepared for the next call with the
    /// same text. Compiling a statement costs a few µs (an INSERT into the node table and its
    /// five indexes more): preparing the dozen statements of a batch anew for each commit was
    /// about a fifth of a small run's commit.
    pub(crate) fn cached(&self, sql: &str) -> Result<Stmt<'_>, String> {
        let found = self.cache.borrow_mut().remove(sql);
        let mut stmt = match found {
            Some(raw) => Stmt { conn: self, raw, cached: None },
            None => self.prepare(sql)?,
        };
        stmt.cached = Some(sql.to_owned());
        Ok(stmt)
    }

    /// Run `sql` (a statement without parameters, e.g. `BEGIN IMMEDIATE`) kept prepared.
    pub(crate) fn exec_cached(&self, sql: &str) -> Result<(), String> {
        self.cached(sql)?.run(&[]).map(|_| ())
    }
}

impl Drop for Conn {
    fn drop(&mut self) {
        for (_, raw) in self.cache.get_mut().drain() {
            // SAFETY: a valid statement of this connection, owned by the cache only.
            unsafe { (self.api.finalize)(raw) };
        }
        if !self.db.is_null() {
            // SAFETY: every statement borrowed this connection and was finalized first.
            unsafe { (self.api.close_v2)(self.db) };
        }
    }
}

impl Stmt<'_> {
    /// Bind `params` (1-based positions), step once, reset. Returns the first column of a
    /// returned row, if any.
    pub(crate) fn run(&mut self, params: &[Val<'_>]) -> Result<Option<i64>, String> {
        let api = &self.conn.api;
        for (at, p) in (1..).zip(params.iter()) {
            // SAFETY: valid statement; text/blob pointers are valid for the given lengths and
            // SQLITE_TRANSIENT makes SQLite copy them before returning.
            let rc = unsafe {
                match p {
                    Val::Null => (api.bind_null)(self.raw, at),
                    Val::Int(v) => (api.bind_int64)(self.raw, at, *v),
                    Val::Real(v) => (api.bind_double)(self.raw, at, *v),
                    Val::Text(s) => (api.bind_text64)(
                        self.raw,
                        at,
                        s.as_ptr().cast(),
                        len64(s.len()),
                        TRANSIENT,
                        SQLITE_UTF8,
                    ),
                    Val::Blob(b) => (api.bind_blob64)(
                        self.raw,
                        at,
                        b.as_ptr().cast(),
                        len64(b.len()),
                        TRANSIENT,
                    ),
                }
            };
            if rc != SQLITE_OK {
                return Err(self.conn.error());
            }
        }
        // SAFETY: valid, fully bound statement.
        let rc = unsafe { (api.step)(self.raw) };
        let out = match rc {
            SQLITE_DONE => Ok(None),
            // SAFETY: a row is available.
            SQLITE_ROW => Ok(Some(unsafe { (api.column_int64)(self.raw, 0) })),
            _ => Err(self.conn.error()),
        };
        // SAFETY: valid statement.
        unsafe { (api.reset)(self.raw) };
        out
    }
}

/// A length for the 64-bit bind calls. A slice never exceeds `isize::MAX` bytes, so this
/// cannot fail on any platform Rust supports; saturating keeps it a refusal (SQLITE_TOOBIG)
/// rather than a wrap should it ever.
fn len64(len: usize) -> u64 {
    u64::try_from(len).unwrap_or(u64::MAX)
}

impl Drop for Stmt<'_> {
    fn drop(&mut self) {
        let api = &self.conn.api;
        if let Some(sql) = self.cached.take() {
            let mut cache = self.conn.cache.borrow_mut();
            if cache.len() < CACHE_MAX && !cache.contains_key(&sql) {
                // SAFETY: valid statement. Reset (`run` did already; a no-op then) and the
                // bound values dropped: a cached statement must not keep a large blob's copy.
                unsafe {
                    (api.reset)(self.raw);
                    (api.clear_bindings)(self.raw);
                }
                cache.insert(sql, self.raw);
                return;
            }
        }
        // SAFETY: valid statement, finalized once.
        unsafe { (api.finalize)(self.raw) };
    }
}
