// native.hpp — what the files of the telering._native extension module share.
//
// The module is the Python face of telering::Writer (writer.hpp), linked statically. Its
// types are:
//   Writer               one attached telering::Writer (native_writer.cpp)
//   PerformanceMonitor   the seed's recording half of bot_health_check (native_monitor.cpp)
//   ErrorRecord,
//   ErrorRecoveryManager the seed's recording half of error_recovery (native_errors.cpp)
// and the Python package (telering/*.py) subclasses the last two for the seed's other
// methods, which are not on any hot path.
//
// Invariants:
//  - Every native call runs with the GIL held, except the waits of commands and reports,
//    which release it inside a WriterUse (below). So a Writer can only be destroyed while
//    no call is inside it: detach() with calls in flight marks it and the last call out
//    destroys it. A detached Writer object stays valid as a Python object and raises
//    TeleringError on every call; it never re-attaches by itself.
//  - No C++ exception crosses into the interpreter: attach is the only call that can throw,
//    and it is caught where it is made.
//  - Functions that release the GIL are not noexcept and hold no try/catch around the
//    re-acquisition: a daemon thread that re-takes the GIL while the interpreter finalises
//    is ended by pthread_exit's forced unwind, which must be allowed through our frames.
#pragma once

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <cstdint>
#include <string_view>

#include "telering/writer.hpp"

namespace telering::python {

// kMaxNameKind names are interned through this module (BotBreaker is the writer's own).
inline constexpr int kNameKinds = static_cast<int>(NameKind::RateGroup) + 1;

struct WriterObject {
  PyObject_HEAD
  Writer* native;                 // nullptr once detached
  Writer* retiring;               // detached while calls were inside: the last one out destroys it
  int in_use;                     // calls inside with the GIL released (guarded by the GIL)
  bool table_full_logged;         // "name table full" is logged once per writer
  PyObject* ids[kNameKinds];      // per kind: dict str -> int id (ids found in the table)
  PyObject* segment;              // str
  PyObject* bot;                  // str
  PyObject* options;              // dict: the attach options, for children to inherit
  PyObject* weakrefs;
};

extern PyTypeObject WriterType;
extern PyObject* TeleringError;   // telering.TeleringError (RuntimeError subclass, .status)

// The process-wide writer the seed's classes record into (set by telering._session).
// A strong reference, or nullptr.
extern WriterObject* g_current;

// The Writer an object records into: its own, or the process-wide one; resolves the
// process-wide one through the session (attach on first use, or TeleringError after
// detach()). nullptr with an exception set when there is none.
WriterObject* resolve_writer(WriterObject* own);

inline WriterObject* writer_of(WriterObject* own) {
  WriterObject* w = own != nullptr ? own : g_current;
  if (w != nullptr && w->native != nullptr) [[likely]] return w;
  return resolve_writer(own);
}

// Raises TeleringError(message) with .status set.
PyObject* raise_error(int status, const char* format, ...);

// The id of a name of `kind` (cached per writer). intern=false only looks it up in the
// segment's table (a name nobody interned yet is 0, and not cached). -1 with an exception
// set when `name` is not a str.
long name_id(WriterObject* w, NameKind kind, PyObject* name, bool intern);

// UTF-8 text of a str, clipped on a character boundary to at most max_bytes.
// *clipped says whether it was cut. Empty view with an exception set on failure.
bool utf8_of(PyObject* text, std::string_view& out);
std::string_view clip_utf8(std::string_view text, std::size_t max_bytes, bool* clipped) noexcept;
// Records `text` as the record's context, clipped on a character boundary to the record's
// context capacity, with kFlagContextTruncated set when it was cut.
RecordResult record_with_text(Writer& w, RecordKind kind, NameId name, Severity severity, NameId aux,
                              std::string_view text) noexcept;

// Wall clock (CLOCK_REALTIME) in seconds, as time.time() gives it.
double wall_now() noexcept;
// datetime.fromtimestamp(seconds): local, naive, as the seed's datetime.now().
PyObject* local_datetime(double seconds);
// A datetime's POSIX timestamp (its .timestamp()); -1.0 with an exception set on failure.
double timestamp_of(PyObject* datetime);

// Parses FASTCALL arguments against `names` (nullptr-terminated); out[i] stays nullptr for
// an argument not given. `required` leading ones must be given. Borrowed references.
bool parse_args(const char* function, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                const char* const* names, int required, PyObject** out);

// A duration in seconds from a Python number: TypeError for None and non-numbers,
// ValueError for negative, NaN and infinite values. -1.0 with an exception set on failure.
double duration_of(PyObject* value, const char* what);

// Keeps a Writer alive across a section that releases the GIL.
class WriterUse {
 public:
  explicit WriterUse(WriterObject* w) noexcept : w_(w) { ++w_->in_use; }
  ~WriterUse();
  WriterUse(const WriterUse&) = delete;
  WriterUse& operator=(const WriterUse&) = delete;

 private:
  WriterObject* w_;
};

// ErrorRecoveryManager.record_error() on this thread now (see PerformanceMonitor.record_error).
void note_manager_error_at(double wall) noexcept;

// The seed's `logger.<method>(line)` at `level` (an int), for a logger that has it enabled:
// the same LogRecord, built without logging's Python-level construction when the logger is
// a plain logging.Logger with the stock factory (native_log.cpp). False with an exception set.
// `created` is the record's time.time().
bool emit_log_line(PyObject* logger, PyObject* level, PyObject* method, PyObject* line, double created);
bool init_log_fast_path();
// handler.handle(record) for a stock logging.StreamHandler/FileHandler with a stock "%"
// Formatter, done natively (native_log_handler.cpp): 1 handled, 0 not that case (nothing
// done; call handler.handle), -1 an exception is set.
int handle_stock(PyObject* handler, PyObject* record);
bool init_stock_handler();
// _native._stock_handler_lines(): how many lines handle_stock wrote (tests prove the path is taken).
PyObject* stock_handler_lines(PyObject* module, PyObject* unused);

// Module pieces, each defined in its own file.
bool add_writer_type(PyObject* module);
bool add_monitor_type(PyObject* module);
bool add_error_types(PyObject* module);
extern PyMethodDef kInspectMethods[];

// Objects the module caches at import (strong references, never released).
struct Cache {
  PyObject* deque_type;        // collections.deque
  PyObject* deque_append;      // collections.deque.append (method descriptor)
  PyObject* datetime_type;     // datetime.datetime
  PyObject* fromtimestamp;     // datetime.datetime.fromtimestamp
  PyObject* resolver;          // telering._session._resolve (set by the session)
  PyObject* severity[5];       // ErrorSeverity members by level 1..4 (set by error_recovery)
  PyObject* log_level[5];      // the seed's logging level per severity: DEBUG, WARNING, ERROR, CRITICAL
  PyObject* log_method[5];     // "debug", "warning", "error", "critical"
  PyObject* log_prefix[5];     // "INFO", "WARNING", "ERROR", "CRITICAL ERROR"
  PyObject* str_cache;         // "_cache"
  PyObject* str_disabled;      // "disabled"
  PyObject* str_severity;      // "severity"
  PyObject* str_is_enabled_for;
  PyObject* str_name;
  PyObject* str_append;
  PyObject* str_local_breaker_open;
};
extern Cache g;

}  // namespace telering::python
