// native_errors.cpp — telering._native.ErrorRecord and ErrorRecoveryManager: the seed's
// error_recovery, recording half.
//
// record_error() does what the seed's does — an ErrorRecord into this instance's
// error_history, error_counts and the last time per type, and the seed's log line at the
// seed's level — and records the error into the segment for the reader's host view.
// Invariant: every method holds the GIL throughout (no call releases it), so each is atomic
// with respect to other Python threads, as the seed's Lock made it.
//
// What is not built per call unless asked for: the record's datetime (kept as a float and
// made on first access, then cached), its empty context dict, and the log line when the
// logger would drop it (the logger's own per-level cache is consulted first).
#include <cstring>

#include "native.hpp"
#include "structmember.h"
#include "telering/telering_writer.h"

namespace telering::python {
namespace {

// ---- ErrorRecord -----------------------------------------------------------------------------

struct RecordObject {
  PyObject_HEAD
  PyObject* error_type;
  PyObject* message;
  PyObject* severity;
  PyObject* context;    // nullptr: {} made on first access
  PyObject* timestamp;  // nullptr: made from `wall` on first access
  PyObject* dict;       // other attributes a bot sets
  double wall;          // wall-clock seconds
  int status;           // the C status of the segment record
  char recovery_attempted;
  char recovery_successful;
};

PyTypeObject RecordType = {PyVarObject_HEAD_INIT(nullptr, 0)};

RecordObject* new_record(PyObject* type, PyObject* message, PyObject* severity, PyObject* context, double wall) {
  RecordObject* r = PyObject_GC_New(RecordObject, &RecordType);
  if (r == nullptr) return nullptr;
  r->error_type = Py_NewRef(type);
  r->message = Py_NewRef(message);
  r->severity = Py_NewRef(severity);
  r->context = context != nullptr ? Py_NewRef(context) : nullptr;
  r->timestamp = nullptr;
  r->dict = nullptr;
  r->wall = wall;
  r->status = 0;
  r->recovery_attempted = 0;
  r->recovery_successful = 0;
  PyObject_GC_Track(r);
  return r;
}

PyObject* record_new(PyTypeObject*, PyObject* args, PyObject* kwargs) {
  static const char* kNames[] = {"error_type", "message", "severity", "context", nullptr};
  PyObject *type, *message, *severity, *context = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OOO|O:ErrorRecord", const_cast<char**>(kNames), &type, &message,
                                   &severity, &context))
    return nullptr;
  // The seed's `context or {}`.
  const int truthy = PyObject_IsTrue(context);
  if (truthy < 0) return nullptr;
  return reinterpret_cast<PyObject*>(new_record(type, message, severity, truthy ? context : nullptr, wall_now()));
}

int record_traverse(RecordObject* r, visitproc visit, void* arg) {
  Py_VISIT(r->error_type);
  Py_VISIT(r->message);
  Py_VISIT(r->severity);
  Py_VISIT(r->context);
  Py_VISIT(r->timestamp);
  Py_VISIT(r->dict);
  return 0;
}

int record_clear(RecordObject* r) {
  Py_CLEAR(r->error_type);
  Py_CLEAR(r->message);
  Py_CLEAR(r->severity);
  Py_CLEAR(r->context);
  Py_CLEAR(r->timestamp);
  Py_CLEAR(r->dict);
  return 0;
}

void record_dealloc(RecordObject* r) {
  PyObject_GC_UnTrack(r);
  record_clear(r);
  PyObject_GC_Del(r);
}

PyObject* record_get_context(RecordObject* r, void*) {
  if (r->context == nullptr && (r->context = PyDict_New()) == nullptr) return nullptr;
  return Py_NewRef(r->context);
}

int record_set_context(RecordObject* r, PyObject* v, void*) {
  Py_XSETREF(r->context, Py_XNewRef(v));
  return 0;
}

PyObject* record_get_timestamp(RecordObject* r, void*) {
  if (r->timestamp == nullptr && (r->timestamp = local_datetime(r->wall)) == nullptr) return nullptr;
  return Py_NewRef(r->timestamp);
}

int record_set_timestamp(RecordObject* r, PyObject* v, void*) {
  if (v == nullptr) {
    PyErr_SetString(PyExc_AttributeError, "cannot delete timestamp");
    return -1;
  }
  const double wall = timestamp_of(v);
  if (wall == -1.0 && PyErr_Occurred()) return -1;
  r->wall = wall;
  Py_XSETREF(r->timestamp, Py_NewRef(v));
  return 0;
}

PyObject* record_get_flag(char* flag) { return PyBool_FromLong(*flag); }
int record_set_flag(char* flag, PyObject* v) {
  const int t = v == nullptr ? 0 : PyObject_IsTrue(v);
  if (t < 0) return -1;
  *flag = static_cast<char>(t);
  return 0;
}
PyObject* get_attempted(RecordObject* r, void*) { return record_get_flag(&r->recovery_attempted); }
int set_attempted(RecordObject* r, PyObject* v, void*) { return record_set_flag(&r->recovery_attempted, v); }
PyObject* get_successful(RecordObject* r, void*) { return record_get_flag(&r->recovery_successful); }
int set_successful(RecordObject* r, PyObject* v, void*) { return record_set_flag(&r->recovery_successful, v); }
PyObject* get_status(RecordObject* r, void*) { return PyLong_FromLong(r->status); }
PyObject* get_wall(RecordObject* r, void*) { return PyFloat_FromDouble(r->wall); }

PyObject* record_repr(RecordObject* r) {
  return PyUnicode_FromFormat("ErrorRecord(error_type=%R, message=%R, severity=%R)", r->error_type, r->message,
                              r->severity);
}

PyMemberDef kRecordMembers[] = {
    {"error_type", T_OBJECT, offsetof(RecordObject, error_type), 0, PyDoc_STR("The error type (str).")},
    {"message", T_OBJECT, offsetof(RecordObject, message), 0, PyDoc_STR("The message, whole.")},
    {"severity", T_OBJECT, offsetof(RecordObject, severity), 0, PyDoc_STR("An ErrorSeverity.")},
    {nullptr, 0, 0, 0, nullptr},
};

PyGetSetDef kRecordGetSet[] = {
    {"context", reinterpret_cast<getter>(record_get_context), reinterpret_cast<setter>(record_set_context),
     PyDoc_STR("The context dict, whole ({} when none was given)."), nullptr},
    {"timestamp", reinterpret_cast<getter>(record_get_timestamp), reinterpret_cast<setter>(record_set_timestamp),
     PyDoc_STR("When it was recorded: a local naive datetime, as the seed's datetime.now()."), nullptr},
    {"recovery_attempted", reinterpret_cast<getter>(get_attempted), reinterpret_cast<setter>(set_attempted),
     PyDoc_STR("attempt_recovery() ran for it."), nullptr},
    {"recovery_successful", reinterpret_cast<getter>(get_successful), reinterpret_cast<setter>(set_successful),
     PyDoc_STR("attempt_recovery() succeeded."), nullptr},
    {"status", reinterpret_cast<getter>(get_status), nullptr,
     PyDoc_STR("The C status of its segment record (OK, RECORDED_SHARED, DROPPED, NO_NAME)."), nullptr},
    {"wall_time", reinterpret_cast<getter>(get_wall), nullptr,
     PyDoc_STR("When it was recorded, in time.time() seconds."), nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

// ---- ErrorRecoveryManager --------------------------------------------------------------------

struct ManagerObject {
  PyObject_HEAD
  WriterObject* writer;           // nullptr: the process-wide writer
  PyObject* error_history;        // deque(maxlen=1000) of ErrorRecord
  PyObject* error_counts;         // dict type -> int
  PyObject* last_error_wall;      // dict type -> float (wall seconds); last_errors gives datetimes
  PyObject* circuit_breakers;     // dict component -> (True, datetime): breakers this instance opened
  PyObject* recovery_strategies;  // dict type -> {'severity', 'action', 'params'}
  PyObject* logger;               // where the seed's log lines go
  PyObject* weakrefs;
};

using Self = ManagerObject;

PyObject* manager_new(PyTypeObject* type, PyObject*, PyObject*) {
  Self* self = reinterpret_cast<Self*>(type->tp_alloc(type, 0));
  if (self == nullptr) return nullptr;
  self->error_history = PyObject_CallFunction(g.deque_type, "()n", static_cast<Py_ssize_t>(1000));
  self->error_counts = PyDict_New();
  self->last_error_wall = PyDict_New();
  self->circuit_breakers = PyDict_New();
  self->recovery_strategies = PyDict_New();
  self->logger = Py_NewRef(Py_None);
  if (!self->error_history || !self->error_counts || !self->last_error_wall || !self->circuit_breakers ||
      !self->recovery_strategies) {
    Py_DECREF(self);
    return nullptr;
  }
  return reinterpret_cast<PyObject*>(self);
}

int manager_init(Self* self, PyObject* args, PyObject* kwargs) {
  static const char* kNames[] = {"writer", nullptr};
  PyObject* writer = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|$O:ErrorRecoveryManager", const_cast<char**>(kNames), &writer))
    return -1;
  if (writer != Py_None && !PyObject_TypeCheck(writer, &WriterType)) {
    PyErr_Format(PyExc_TypeError, "writer must be a telering.Writer or None, not %.100s", Py_TYPE(writer)->tp_name);
    return -1;
  }
  Py_XSETREF(self->writer, writer == Py_None ? nullptr : reinterpret_cast<WriterObject*>(Py_NewRef(writer)));
  return 0;
}

int manager_traverse(Self* self, visitproc visit, void* arg) {
  Py_VISIT(self->writer);
  Py_VISIT(self->error_history);
  Py_VISIT(self->error_counts);
  Py_VISIT(self->last_error_wall);
  Py_VISIT(self->circuit_breakers);
  Py_VISIT(self->recovery_strategies);
  Py_VISIT(self->logger);
  return 0;
}

int manager_clear(Self* self) {
  Py_CLEAR(self->writer);
  Py_CLEAR(self->error_history);
  Py_CLEAR(self->error_counts);
  Py_CLEAR(self->last_error_wall);
  Py_CLEAR(self->circuit_breakers);
  Py_CLEAR(self->recovery_strategies);
  Py_CLEAR(self->logger);
  return 0;
}

void manager_dealloc(Self* self) {
  PyObject_GC_UnTrack(self);
  if (self->weakrefs != nullptr) PyObject_ClearWeakRefs(reinterpret_cast<PyObject*>(self));
  manager_clear(self);
  Py_TYPE(self)->tp_free(reinterpret_cast<PyObject*>(self));
}

// The severity level (1..4) of an ErrorSeverity member (by identity: the hot case), or of
// its value or name; 0 with an exception set otherwise.
int level_of(PyObject* severity) {
  for (int level = 1; level <= 4; ++level)
    if (severity == g.severity[level]) return level;
  if (g.severity[1] == nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "telering.error_recovery was not imported (ErrorSeverity unset)");
    return 0;
  }
  long level = 0;
  if (PyLong_Check(severity)) {
    level = PyLong_AsLong(severity);
  } else if (PyUnicode_Check(severity)) {
    for (int l = 1; l <= 4; ++l) {
      PyObject* name = PyObject_GetAttr(g.severity[l], g.str_name);
      if (name == nullptr) return 0;
      PyObject* upper = PyObject_CallMethod(severity, "upper", nullptr);
      const int same = upper ? PyUnicode_Compare(name, upper) == 0 : 0;
      Py_XDECREF(upper);
      Py_DECREF(name);
      if (same) level = l;
    }
  } else {
    PyErr_Format(PyExc_TypeError, "severity must be an ErrorSeverity, not %.100s", Py_TYPE(severity)->tp_name);
    return 0;
  }
  if (level < 1 || level > 4) {
    if (!PyErr_Occurred()) PyErr_Format(PyExc_ValueError, "severity must be ErrorSeverity.LOW..CRITICAL (1..4), not %R", severity);
    return 0;
  }
  return static_cast<int>(level);
}

// The severity of a strategy registered for `type`, else MEDIUM (the seed's default).
int registered_level(Self* self, PyObject* type) {
  PyObject* strategy = PyDict_Check(self->recovery_strategies)
                           ? PyDict_GetItemWithError(self->recovery_strategies, type)
                           : nullptr;
  if (strategy == nullptr) return PyErr_Occurred() ? 0 : 2;
  PyObject* s = PyDict_Check(strategy) ? PyDict_GetItemWithError(strategy, g.str_severity) : nullptr;
  if (s == nullptr) return PyErr_Occurred() ? 0 : 2;
  return level_of(s);
}

// Appends UTF-8 of str(obj) to buf[len..cap) and returns the new length (may reach cap).
std::size_t append_text(char* buf, std::size_t len, std::size_t cap, PyObject* obj, bool* failed) {
  if (len >= cap) return len;
  PyObject* s = PyUnicode_Check(obj) ? Py_NewRef(obj) : PyObject_Str(obj);
  std::string_view text;
  if (s == nullptr || !utf8_of(s, text)) {
    Py_XDECREF(s);
    *failed = true;
    return len;
  }
  const std::size_t n = std::min(text.size(), cap - len);
  std::memcpy(buf + len, text.data(), n);
  Py_DECREF(s);
  return len + n;
}

std::size_t append_chars(char* buf, std::size_t len, std::size_t cap, const char* chars) {
  const std::size_t n = std::min(std::strlen(chars), cap - std::min(len, cap));
  std::memcpy(buf + len, chars, n);
  return len + n;
}

// The record's context text: the message, then the context's "key=value" pairs, as far as
// they fit. Only the first kContextCapacity + 4 bytes are ever built.
bool error_text(PyObject* message, PyObject* context, char* buf, std::size_t cap, std::size_t& len) {
  bool failed = false;
  len = append_text(buf, 0, cap, message, &failed);
  if (context != nullptr && !failed) {
    if (PyDict_Check(context)) {
      Py_ssize_t pos = 0;
      PyObject *key, *value;
      while (len < cap && PyDict_Next(context, &pos, &key, &value)) {
        if (len > 0) len = append_chars(buf, len, cap, " ");
        len = append_text(buf, len, cap, key, &failed);
        len = append_chars(buf, len, cap, "=");
        len = append_text(buf, len, cap, value, &failed);
        if (failed) break;
      }
    } else {
      if (len > 0) len = append_chars(buf, len, cap, " ");
      len = append_text(buf, len, cap, context, &failed);
    }
  }
  return !failed;
}

// logger.isEnabledFor(level), answered from the logger's own per-level cache when it has
// the entry (logging clears that cache whenever levels or disabling change). -1 on error.
int log_enabled(PyObject* logger, int severity_level) {
  PyObject* level = g.log_level[severity_level];
  PyObject* dict = PyObject_GenericGetDict(logger, nullptr);
  if (dict != nullptr) {
    PyObject* disabled = PyDict_GetItemWithError(dict, g.str_disabled);
    PyObject* cache = disabled == Py_False ? PyDict_GetItemWithError(dict, g.str_cache) : nullptr;
    PyObject* hit = cache != nullptr && PyDict_CheckExact(cache) ? PyDict_GetItemWithError(cache, level) : nullptr;
    Py_DECREF(dict);
    if (hit == Py_True) return 1;
    if (hit == Py_False) return 0;
  }
  PyErr_Clear();
  PyObject* r = PyObject_CallMethodOneArg(logger, g.str_is_enabled_for, level);
  if (r == nullptr) return -1;
  const int enabled = PyObject_IsTrue(r);
  Py_DECREF(r);
  return enabled;
}

// The seed's log line for an error of this severity: "<PREFIX>: <type> - <message>".
bool log_error(PyObject* logger, int level, PyObject* type, PyObject* message, double now) {
  if (logger == Py_None) return true;
  const int enabled = log_enabled(logger, level);
  if (enabled <= 0) return enabled == 0;
  PyObject* line = PyUnicode_FromFormat("%U: %S - %S", g.log_prefix[level], type, message);
  if (line == nullptr) return false;
  const bool ok = emit_log_line(logger, g.log_level[level], g.log_method[level], line, now);
  Py_DECREF(line);
  return ok;
}

void log_table_full(WriterObject* w, PyObject* type) {
  if (w->table_full_logged) return;
  w->table_full_logged = true;
  PyObject* logging = PyImport_ImportModule("logging");
  PyObject* logger = logging ? PyObject_CallMethod(logging, "getLogger", "s", "telering") : nullptr;
  PyObject* r = logger ? PyObject_CallMethod(logger, "error", "sOO",
                                             "telering: the name table of segment %r is full: error type %r (and any "
                                             "other new name) is not recorded in the segment; the reader does not "
                                             "see it. Recreate the segment with a larger name_capacity.",
                                             w->segment, type)
                       : nullptr;
  Py_XDECREF(r);
  Py_XDECREF(logger);
  Py_XDECREF(logging);
  PyErr_Clear();  // logging must not turn a recorded error into an exception
}

bool add_count(PyObject* counts, PyObject* key) {
  PyObject* old = PyDict_GetItemWithError(counts, key);
  if (old == nullptr && PyErr_Occurred()) return false;
  long long n = old == nullptr ? 0 : PyLong_AsLongLong(old);
  if (n == -1 && PyErr_Occurred()) return false;
  PyObject* v = PyLong_FromLongLong(n + 1);
  const bool ok = v != nullptr && PyDict_SetItem(counts, key, v) == 0;
  Py_XDECREF(v);
  return ok;
}

PyObject* manager_record_error(Self* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* a[4] = {nullptr, nullptr, nullptr, nullptr};
  if (kwnames == nullptr && nargs >= 2 && nargs <= 4) [[likely]] {
    for (Py_ssize_t i = 0; i < nargs; ++i) a[i] = args[i];
  } else {
    static const char* const kNames[] = {"error_type", "message", "severity", "context", nullptr};
    if (!parse_args("record_error", args, nargs, kwnames, kNames, 2, a)) return nullptr;
  }
  PyObject* type = a[0];
  PyObject* message = a[1];
  if (self->error_history == nullptr || self->error_counts == nullptr || self->last_error_wall == nullptr ||
      self->recovery_strategies == nullptr || self->logger == nullptr)
    return PyErr_Format(PyExc_AttributeError, "record_error: error_history, error_counts, recovery_strategies or logger was deleted");
  if (!PyUnicode_Check(type)) return PyErr_Format(PyExc_TypeError, "error_type must be a str, not %.100s", Py_TYPE(type)->tp_name);
  const int level = a[2] == nullptr || a[2] == Py_None ? registered_level(self, type) : level_of(a[2]);
  if (level == 0) return nullptr;
  PyObject* context = a[3] == nullptr || a[3] == Py_None ? nullptr : a[3];
  if (context != nullptr) {  // the seed's `context or {}`
    const int truthy = PyObject_IsTrue(context);
    if (truthy < 0) return nullptr;
    if (!truthy) context = nullptr;
  }
  WriterObject* w = writer_of(self->writer);
  if (w == nullptr) return nullptr;

  // The segment: one Error record, its context the message and the context, clipped on a
  // character boundary with the truncation flag (the reader's history shows the cut).
  const long id = name_id(w, NameKind::ErrorType, type, true);
  if (id < 0) return nullptr;
  int status = TELERING_NO_NAME;
  if (id != 0) {
    char buf[kContextCapacity + 8];
    std::size_t len = 0;
    if (!error_text(message, context, buf, sizeof buf, len)) return nullptr;
    status = static_cast<int>(record_with_text(*w->native, RecordKind::Error, static_cast<NameId>(id),
                                               static_cast<Severity>(level), kNoName, std::string_view(buf, len)));
  } else {
    log_table_full(w, type);
  }
  // This instance's view, as the seed keeps it (one clock read serves the record, the last
  // time per type and the log record).
  const double now = wall_now();
  note_manager_error_at(now);
  RecordObject* rec = new_record(type, message, g.severity[level], context, now);
  if (rec == nullptr) return nullptr;
  rec->status = status;
  PyObject* r = reinterpret_cast<PyObject*>(rec);
  PyObject* history = self->error_history;
  PyObject* appended;
  if (Py_IS_TYPE(history, reinterpret_cast<PyTypeObject*>(g.deque_type))) [[likely]] {
    PyObject* call_args[2] = {history, r};
    appended = PyObject_Vectorcall(g.deque_append, call_args, 2, nullptr);
  } else {
    appended = PyObject_CallMethodOneArg(history, g.str_append, r);
  }
  if (appended == nullptr) {
    Py_DECREF(r);
    return nullptr;
  }
  Py_DECREF(appended);
  PyObject* wall = PyFloat_FromDouble(now);
  if (!add_count(self->error_counts, type) || wall == nullptr || PyObject_SetItem(self->last_error_wall, type, wall) < 0 ||
      !log_error(self->logger, level, type, message, now)) {
    Py_XDECREF(wall);
    Py_DECREF(r);
    return nullptr;
  }
  Py_DECREF(wall);
  return r;
}

PyObject* manager_is_breaker_open(Self* self, PyObject* component) {
  // A breaker this instance opened (the seed's view), closed by its own timeout.
  if (self->circuit_breakers != nullptr && PyDict_Check(self->circuit_breakers) && PyDict_GET_SIZE(self->circuit_breakers) != 0) {
    const int mine = PyDict_Contains(self->circuit_breakers, component);
    if (mine < 0) return nullptr;
    if (mine) {
      PyObject* r = PyObject_CallMethodOneArg(reinterpret_cast<PyObject*>(self), g.str_local_breaker_open, component);
      if (r == nullptr || r == Py_True) return r;
      Py_DECREF(r);
    }
  }
  // The reader's breaker (host-wide), where it is stricter.
  WriterObject* w = writer_of(self->writer);
  if (w == nullptr) return nullptr;
  const long id = name_id(w, NameKind::Component, component, false);
  if (id < 0) return nullptr;
  return PyBool_FromLong(id != 0 && w->native->breaker_open(static_cast<NameId>(id)));
}

PyObject* manager_get_writer(Self* self, void*) {
  WriterObject* w = self->writer != nullptr ? self->writer : g_current;
  return Py_NewRef(w != nullptr ? reinterpret_cast<PyObject*>(w) : Py_None);
}

#define MEMBER(field, doc)                                                                                          \
  {#field, T_OBJECT, offsetof(ManagerObject, field), 0, PyDoc_STR(doc)}

PyMemberDef kManagerMembers[] = {
    MEMBER(error_history, "This instance's last 1000 ErrorRecords (a deque)."),
    MEMBER(error_counts, "This instance's errors per type (a dict)."),
    MEMBER(circuit_breakers, "Breakers this instance opened: component -> (True, opened_at datetime)."),
    MEMBER(recovery_strategies, "error type -> {'severity', 'action', 'params'}."),
    MEMBER(logger, "The logging.Logger the seed's log lines go to."),
    {"_last_error_wall", T_OBJECT, offsetof(ManagerObject, last_error_wall), 0,
     PyDoc_STR("error type -> time.time() of its last error (last_errors gives datetimes).")},
    {nullptr, 0, 0, 0, nullptr},
};

#define FAST(fn) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fn))

PyMethodDef kManagerMethods[] = {
    {"record_error", FAST(manager_record_error), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("record_error(error_type, message, severity=None, context=None) -> ErrorRecord: records an error "
               "(severity defaults to the registered strategy's, else MEDIUM) into this instance's history and the "
               "segment, and logs it at the seed's level.")},
    {"is_circuit_breaker_open", FAST(manager_is_breaker_open), METH_O,
     PyDoc_STR("is_circuit_breaker_open(component) -> bool: a breaker this instance opened (until "
               "circuit_breaker_timeout), or the reader's host-wide breaker for the component.")},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef kManagerGetSet[] = {
    {"writer", reinterpret_cast<getter>(manager_get_writer), nullptr,
     PyDoc_STR("The Writer this manager records into (its own, or the process-wide one)."), nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyTypeObject ManagerType = {PyVarObject_HEAD_INIT(nullptr, 0)};

}  // namespace

bool add_error_types(PyObject* module) {
  RecordType.tp_name = "telering.ErrorRecord";
  RecordType.tp_basicsize = sizeof(RecordObject);
  RecordType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_HAVE_GC;
  RecordType.tp_doc = PyDoc_STR(
      "ErrorRecord(error_type, message, severity, context=None)\n\n"
      "The seed's record of one error: error_type, message, severity, context, timestamp (a datetime), "
      "recovery_attempted, recovery_successful; plus status (its segment record's C status).");
  RecordType.tp_new = record_new;
  RecordType.tp_dealloc = reinterpret_cast<destructor>(record_dealloc);
  RecordType.tp_traverse = reinterpret_cast<traverseproc>(record_traverse);
  RecordType.tp_clear = reinterpret_cast<inquiry>(record_clear);
  RecordType.tp_repr = reinterpret_cast<reprfunc>(record_repr);
  RecordType.tp_members = kRecordMembers;
  RecordType.tp_getset = kRecordGetSet;
  RecordType.tp_dictoffset = offsetof(RecordObject, dict);

  ManagerType.tp_name = "telering._native.ErrorRecoveryManager";
  ManagerType.tp_basicsize = sizeof(ManagerObject);
  ManagerType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC;
  ManagerType.tp_doc = PyDoc_STR(
      "ErrorRecoveryManager(*, writer=None)\n\n"
      "The seed's ErrorRecoveryManager, recording half (record_error, is_circuit_breaker_open); "
      "telering.error_recovery.ErrorRecoveryManager adds the rest.");
  ManagerType.tp_new = manager_new;
  ManagerType.tp_init = reinterpret_cast<initproc>(manager_init);
  ManagerType.tp_dealloc = reinterpret_cast<destructor>(manager_dealloc);
  ManagerType.tp_traverse = reinterpret_cast<traverseproc>(manager_traverse);
  ManagerType.tp_clear = reinterpret_cast<inquiry>(manager_clear);
  ManagerType.tp_members = kManagerMembers;
  ManagerType.tp_methods = kManagerMethods;
  ManagerType.tp_getset = kManagerGetSet;
  ManagerType.tp_weaklistoffset = offsetof(ManagerObject, weakrefs);
  return PyType_Ready(&RecordType) == 0 && PyType_Ready(&ManagerType) == 0 &&
         PyModule_AddObjectRef(module, "ErrorRecord", reinterpret_cast<PyObject*>(&RecordType)) == 0 &&
         PyModule_AddObjectRef(module, "ErrorRecoveryManager", reinterpret_cast<PyObject*>(&ManagerType)) == 0;
}

}  // namespace telering::python
