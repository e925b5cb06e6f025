// native_writer.cpp — telering._native.Writer: one attached telering::Writer.
//
// The low-level API (C status codes, host-wide decisions, commands, the reader's report).
// The seed's classes record through it; a bot may also use it directly.
#include <cctype>
#include <chrono>
#include <cmath>
#include <new>
#include <string>
#include <thread>

#include "native.hpp"
#include "telering/core/clock.hpp"
#include "telering/core/report_page.hpp"
#include "telering/telering_writer.h"

namespace telering::python {

RecordResult record_with_text(Writer& w, RecordKind kind, NameId name, Severity severity, NameId aux,
                              std::string_view text) noexcept {
  bool clipped = false;
  text = clip_utf8(text, kContextCapacity, &clipped);
  return w.record(kind, name, 0.0, severity, aux, clipped ? kFlagContextTruncated : 0, text);
}

namespace {

using Self = WriterObject;

// Names of board values: to_string (telering/core/layout.hpp), the one definition. A value
// out of range (a corrupt entry) is shown as "INVALID" (breaker, action) or "UNKNOWN" (health).
std::string breaker_name(unsigned b) {
  return std::string(b <= kMaxBreakerState ? to_string(static_cast<BreakerState>(b)) : "INVALID");
}
std::string health_name(unsigned h) {
  return std::string(h <= TELERING_HEALTH_CRITICAL ? to_string(static_cast<HealthStatus>(h)) : "UNKNOWN");
}
// decision()'s last_action is upper case ("RETRY"), the enum's name in the C header.
std::string action_name(unsigned a) {
  std::string out(a <= kMaxRecoveryAction ? to_string(static_cast<RecoveryAction>(a)) : "invalid");
  for (char& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

Writer* live(Self* self) {
  if (self->native != nullptr) [[likely]] return self->native;
  resolve_writer(self);  // raises the "detached" error
  return nullptr;
}

PyObject* status(RecordResult r) { return PyLong_FromLong(static_cast<long>(r)); }

// ---- construction and lifetime ------------------------------------------------------------

PyObject* writer_new(PyTypeObject* type, PyObject*, PyObject*) {
  Self* self = reinterpret_cast<Self*>(type->tp_alloc(type, 0));
  if (self == nullptr) return nullptr;
  for (PyObject*& ids : self->ids)
    if ((ids = PyDict_New()) == nullptr) {
      Py_DECREF(self);
      return nullptr;
    }
  return reinterpret_cast<PyObject*>(self);
}

int writer_init(Self* self, PyObject* args, PyObject* kwargs) {
  static const char* kNames[] = {"segment", "bot", "mode", "group", "trust_other_owner", "sample_memory",
                                 "memory_interval_ms", "lane_count", "lane_capacity", "mpsc_capacity",
                                 "name_capacity", nullptr};
  const char* segment = "telering";
  const char* bot = "python-bot";
  unsigned mode = 0;
  const char* group = nullptr;
  int trust = 0, sample = 1;
  unsigned interval = 1000, lane_count = 0, lane_capacity = 0, mpsc_capacity = 0, name_capacity = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|ss$IzppIIIII:Writer", const_cast<char**>(kNames), &segment, &bot,
                                   &mode, &group, &trust, &sample, &interval, &lane_count, &lane_capacity,
                                   &mpsc_capacity, &name_capacity))
    return -1;
  if (self->segment != nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "a Writer attaches once; create a new one");
    return -1;
  }
  if (mode > 0777) {
    PyErr_Format(PyExc_ValueError, "mode must be a permission mode such as 0o600, not %#o", mode);
    return -1;
  }
  WriterOptions o;
  o.segment = segment;
  o.bot = bot;
  if (mode != 0) o.mode = mode;
  if (group != nullptr) o.group = group;
  o.trust_other_owner = trust != 0;
  o.sample_memory = sample != 0;
  if (interval != 0) o.memory_interval = std::chrono::milliseconds(interval);
  if (lane_count != 0) o.geometry.lane_count = lane_count;
  if (lane_capacity != 0) o.geometry.lane_capacity = lane_capacity;
  if (mpsc_capacity != 0) o.geometry.mpsc_capacity = mpsc_capacity;
  if (name_capacity != 0) o.geometry.name_capacity = name_capacity;
  if (o.segment.empty() || o.bot.empty()) {
    PyErr_SetString(PyExc_ValueError, "segment and bot must be non-empty names");
    return -1;
  }
  try {
    self->native = new Writer(Writer::attach(o));
  } catch (const SegmentError& e) {
    raise_error(TELERING_E_ATTACH, "telering: cannot attach to segment '%s' as bot '%s': %s", segment, bot, e.what());
    return -1;
  } catch (const std::bad_alloc&) {
    PyErr_NoMemory();
    return -1;
  } catch (const std::exception& e) {
    raise_error(TELERING_E_INTERNAL, "telering: attach failed: %s", e.what());
    return -1;
  }
  Py_XSETREF(self->segment, PyUnicode_FromString(segment));
  Py_XSETREF(self->bot, PyUnicode_FromString(bot));
  Py_XSETREF(self->options,
             Py_BuildValue("{s:s,s:s,s:I,s:z,s:O,s:O,s:I,s:I,s:I,s:I,s:I}", "segment", segment, "bot", bot, "mode", mode,
                           "group", group, "trust_other_owner", trust ? Py_True : Py_False, "sample_memory",
                           sample ? Py_True : Py_False, "memory_interval_ms", interval, "lane_count", lane_count,
                           "lane_capacity", lane_capacity, "mpsc_capacity", mpsc_capacity, "name_capacity",
                           name_capacity));
  return self->segment && self->bot && self->options ? 0 : -1;
}

void destroy_native(Self* self) {
  Writer* gone = self->native;
  self->native = nullptr;  // from now on every call raises
  if (gone == nullptr) return;
  if (self->in_use > 0) {  // a call with the GIL released is inside: the last one out destroys it
    self->retiring = gone;
    return;
  }
  delete gone;
}

void writer_dealloc(Self* self) {
  if (self->weakrefs != nullptr) PyObject_ClearWeakRefs(reinterpret_cast<PyObject*>(self));
  // Only reached with in_use == 0: a call in flight holds a reference to self.
  destroy_native(self);
  delete self->retiring;
  self->retiring = nullptr;
  for (PyObject*& ids : self->ids) Py_CLEAR(ids);
  Py_CLEAR(self->segment);
  Py_CLEAR(self->bot);
  Py_CLEAR(self->options);
  Py_TYPE(self)->tp_free(reinterpret_cast<PyObject*>(self));
}

PyObject* writer_detach(Self* self, PyObject*) {
  destroy_native(self);  // with calls in flight: destroyed by the last one out
  Py_RETURN_NONE;
}

PyObject* get_attached(Self* self, void*) { return PyBool_FromLong(self->native != nullptr); }
PyObject* get_segment(Self* self, void*) { return Py_NewRef(self->segment ? self->segment : Py_None); }
PyObject* get_bot(Self* self, void*) { return Py_NewRef(self->bot ? self->bot : Py_None); }
PyObject* get_options(Self* self, void*) {
  return self->options ? PyDict_Copy(self->options) : PyDict_New();
}

// After fork() only the forking thread exists in the child: calls that were inside with
// the GIL released in other threads will never come out.
PyObject* writer_after_fork_child(Self* self, PyObject*) {
  self->in_use = 0;
  if (self->retiring != nullptr) {
    Writer* gone = self->retiring;
    self->retiring = nullptr;
    delete gone;
  }
  Py_RETURN_NONE;
}

// ---- names -----------------------------------------------------------------------------------

bool kind_of(PyObject* v, NameKind& kind) {
  const long k = PyLong_AsLong(v);
  if (k == -1 && PyErr_Occurred()) return false;
  if (k < TELERING_NAME_BOT || k > TELERING_NAME_RATE_GROUP) {
    PyErr_Format(PyExc_ValueError, "name kind must be NAME_BOT..NAME_RATE_GROUP (1..7), not %ld", k);
    return false;
  }
  kind = static_cast<NameKind>(k);
  return true;
}

PyObject* writer_intern(Self* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) return PyErr_Format(PyExc_TypeError, "intern(kind, name) takes 2 arguments");
  if (live(self) == nullptr) return nullptr;
  NameKind kind;
  if (!kind_of(args[0], kind)) return nullptr;
  const long id = name_id(self, kind, args[1], true);
  return id < 0 ? nullptr : PyLong_FromLong(id);
}

// ---- recording (C status codes; TypeError / ValueError for bad arguments) -----------------

PyObject* writer_scan_time(Self* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 1) return PyErr_Format(PyExc_TypeError, "scan_time(seconds) takes 1 argument");
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  const double d = duration_of(args[0], "seconds");
  if (d < 0) return nullptr;
  return status(w->scan_time(d));
}

PyObject* writer_api_call(Self* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  static const char* const kNames[] = {"seconds", "endpoint", nullptr};
  PyObject* a[2];
  if (!parse_args("api_call", args, nargs, kwnames, kNames, 1, a)) return nullptr;
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  const double d = duration_of(a[0], "seconds");
  if (d < 0) return nullptr;
  long endpoint = 0;
  if (a[1] != nullptr && a[1] != Py_None && (endpoint = name_id(self, NameKind::Endpoint, a[1], true)) < 0) return nullptr;
  return status(w->api_call(d, static_cast<NameId>(endpoint)));
}

PyObject* writer_memory(Self* self, PyObject*) {
  Writer* w = live(self);
  return w ? status(w->memory()) : nullptr;
}

PyObject* writer_memory_bytes(Self* self, PyObject* v) {
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  const double d = duration_of(v, "bytes");
  return d < 0 ? nullptr : status(w->memory_bytes(d));
}

bool severity_of(PyObject* v, Severity& s) {
  const long level = PyLong_AsLong(v);
  if (level == -1 && PyErr_Occurred()) return false;
  if (level < TELERING_SEVERITY_LOW || level > TELERING_SEVERITY_CRITICAL) {
    PyErr_Format(PyExc_ValueError, "severity must be LOW..CRITICAL (1..4), not %ld", level);
    return false;
  }
  s = static_cast<Severity>(level);
  return true;
}

PyObject* writer_error(Self* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  static const char* const kNames[] = {"error_type", "severity", "context", "component", nullptr};
  PyObject* a[4];
  if (!parse_args("error", args, nargs, kwnames, kNames, 1, a)) return nullptr;
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  Severity s = Severity::Medium;
  if (a[1] != nullptr && !severity_of(a[1], s)) return nullptr;
  const long type = name_id(self, NameKind::ErrorType, a[0], true);
  if (type <= 0) return type < 0 ? nullptr : PyLong_FromLong(TELERING_NO_NAME);
  long component = 0;
  if (a[3] != nullptr && a[3] != Py_None && (component = name_id(self, NameKind::Component, a[3], true)) < 0) return nullptr;
  std::string_view text;
  if (a[2] != nullptr && a[2] != Py_None && !utf8_of(a[2], text)) return nullptr;
  return status(record_with_text(*w, RecordKind::Error, static_cast<NameId>(type), s, static_cast<NameId>(component), text));
}

PyObject* writer_warning(Self* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  static const char* const kNames[] = {"warning_type", "context", nullptr};
  PyObject* a[2];
  if (!parse_args("warning", args, nargs, kwnames, kNames, 1, a)) return nullptr;
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  const long type = name_id(self, NameKind::WarningType, a[0], true);
  if (type <= 0) return type < 0 ? nullptr : PyLong_FromLong(TELERING_NO_NAME);
  std::string_view text;
  if (a[1] != nullptr && a[1] != Py_None && !utf8_of(a[1], text)) return nullptr;
  return status(record_with_text(*w, RecordKind::Warning, static_cast<NameId>(type), Severity::None, kNoName, text));
}

PyObject* writer_call_outcome(Self* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  static const char* const kNames[] = {"component", "success", "seconds", nullptr};
  PyObject* a[3];
  if (!parse_args("call_outcome", args, nargs, kwnames, kNames, 2, a)) return nullptr;
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  const int ok = PyObject_IsTrue(a[1]);
  if (ok < 0) return nullptr;
  double d = 0.0;
  if (a[2] != nullptr && (d = duration_of(a[2], "seconds")) < 0) return nullptr;
  const long id = name_id(self, NameKind::Component, a[0], true);
  if (id <= 0) return id < 0 ? nullptr : PyLong_FromLong(TELERING_NO_NAME);
  return status(w->call_outcome(static_cast<NameId>(id), ok != 0, d));
}

PyObject* metric(Self* self, PyObject* const* args, Py_ssize_t nargs, RecordKind kind, const char* what, double dflt) {
  if (nargs < 1 || nargs > 2) return PyErr_Format(PyExc_TypeError, "%s(metric, value) takes 1 or 2 arguments", what);
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  double v = dflt;
  if (nargs == 2 && (v = PyFloat_AsDouble(args[1])) == -1.0 && PyErr_Occurred()) return nullptr;
  if (!std::isfinite(v)) return PyErr_Format(PyExc_ValueError, "%s value must be finite", what);
  const long id = name_id(self, NameKind::Metric, args[0], true);
  if (id <= 0) return id < 0 ? nullptr : PyLong_FromLong(TELERING_NO_NAME);
  return status(w->record(kind, static_cast<NameId>(id), v));
}

PyObject* writer_counter(Self* self, PyObject* const* args, Py_ssize_t nargs) {
  return metric(self, args, nargs, RecordKind::Counter, "counter", 1.0);
}
PyObject* writer_gauge(Self* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) return PyErr_Format(PyExc_TypeError, "gauge(metric, value) takes 2 arguments");
  return metric(self, args, nargs, RecordKind::Gauge, "gauge", 0.0);
}

PyObject* writer_heartbeat(Self* self, PyObject*) {
  Writer* w = live(self);
  return w ? status(w->heartbeat()) : nullptr;
}

// ---- decisions (host-wide: the reader's board) ------------------------------------------

// The id of a name someone interned, or 0; -1 on a bad argument.
long known(Self* self, NameKind kind, PyObject* name) { return name_id(self, kind, name, false); }

PyObject* writer_breaker_open(Self* self, PyObject* component) {
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  const long id = known(self, NameKind::Component, component);
  if (id < 0) return nullptr;
  return PyBool_FromLong(id != 0 && w->breaker_open(static_cast<NameId>(id)));
}

PyObject* writer_breaker_state(Self* self, PyObject* component) {
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  const long id = known(self, NameKind::Component, component);
  if (id < 0) return nullptr;
  const auto s = id == 0 ? 0u : static_cast<unsigned>(w->board().breaker_state(static_cast<NameId>(id)));
  return PyUnicode_FromString(breaker_name(s).c_str());
}

PyObject* writer_in_backoff(Self* self, PyObject* error_type) {
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  const long id = known(self, NameKind::ErrorType, error_type);
  if (id < 0) return nullptr;
  return PyBool_FromLong(id != 0 && w->in_backoff(static_cast<NameId>(id)));
}

PyObject* writer_backoff_until_ns(Self* self, PyObject* error_type) {
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  const long id = known(self, NameKind::ErrorType, error_type);
  if (id < 0) return nullptr;
  return PyLong_FromUnsignedLongLong(id == 0 ? 0 : w->board().snapshot(static_cast<NameId>(id)).backoff_until_ns);
}

PyObject* writer_backoff_remaining(Self* self, PyObject* error_type) {
  PyObject* until = writer_backoff_until_ns(self, error_type);
  if (until == nullptr) return nullptr;
  const unsigned long long u = PyLong_AsUnsignedLongLong(until);
  Py_DECREF(until);
  const std::uint64_t now = monotonic_ns();
  return PyFloat_FromDouble(u > now ? static_cast<double>(u - now) / 1e9 : 0.0);
}

PyObject* writer_reset_epoch(Self* self, PyObject* name) {
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  if (!PyUnicode_Check(name)) return PyErr_Format(PyExc_TypeError, "reset_epoch() takes a str");
  std::string_view text;
  if (!utf8_of(name, text)) return nullptr;
  return PyLong_FromUnsignedLongLong(w->reset_epoch(clip_utf8(text, kMaxNameLength, nullptr)));
}

PyObject* writer_global_reset_epoch(Self* self, PyObject*) {
  Writer* w = live(self);
  return w ? PyLong_FromUnsignedLongLong(w->global_reset_epoch()) : nullptr;
}

PyObject* writer_shutdown_requested(Self* self, PyObject*) {
  Writer* w = live(self);
  return w ? PyBool_FromLong(w->shutdown_requested()) : nullptr;
}

PyObject* writer_reader_alive(Self* self, PyObject* const* args, Py_ssize_t nargs) {
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  long ms = 0;
  if (nargs > 0 && (ms = PyLong_AsLong(args[0])) == -1 && PyErr_Occurred()) return nullptr;
  return PyBool_FromLong(w->reader_alive(std::chrono::milliseconds(ms <= 0 ? 2000 : ms)));
}

PyObject* writer_overall_health(Self* self, PyObject*) {
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  const auto h = static_cast<unsigned>(w->overall_health());
  return PyUnicode_FromString(health_name(h).c_str());
}

PyObject* writer_decision(Self* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs != 2) return PyErr_Format(PyExc_TypeError, "decision(kind, name) takes 2 arguments");
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  NameKind kind;
  if (!kind_of(args[0], kind)) return nullptr;
  const long id = known(self, kind, args[1]);
  if (id <= 0) {
    if (id < 0) return nullptr;
    Py_RETURN_NONE;
  }
  const BoardSnapshot s = w->board().snapshot(static_cast<NameId>(id));
  const unsigned b = static_cast<unsigned>(s.breaker_state), h = static_cast<unsigned>(s.health),
                 a = static_cast<unsigned>(s.last_action);
  return Py_BuildValue("{s:s,s:s,s:s,s:I,s:K,s:K,s:K,s:O}", "breaker_state",
                       breaker_name(b).c_str(), "health", health_name(h).c_str(), "last_action",
                       action_name(a).c_str(), "retry_permits", s.retry_permits,
                       "backoff_until_ns", static_cast<unsigned long long>(s.backoff_until_ns), "reset_epoch",
                       static_cast<unsigned long long>(s.reset_epoch), "decision_seq",
                       static_cast<unsigned long long>(s.decision_seq), "consistent", s.consistent ? Py_True : Py_False);
}

PyObject* writer_should_trigger_recovery(Self* self, PyObject* error_type) {
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  if (!PyUnicode_Check(error_type)) return PyErr_Format(PyExc_TypeError, "should_trigger_recovery() takes a str");
  std::string_view text;
  if (!utf8_of(error_type, text)) return nullptr;
  return PyBool_FromLong(w->should_trigger_recovery(clip_utf8(text, kMaxNameLength, nullptr)));
}

// ---- commands and the report (the GIL is released while they wait) ---------------------

std::chrono::milliseconds wait_of(PyObject* v, long dflt) {
  long ms = dflt;
  if (v != nullptr && (ms = PyLong_AsLong(v)) == -1 && PyErr_Occurred()) return std::chrono::milliseconds(-1);
  if (ms < 0 || ms > 600000) {
    PyErr_Format(PyExc_ValueError, "wait_ms must be 0..600000, not %ld", ms);
    return std::chrono::milliseconds(-1);
  }
  return std::chrono::milliseconds(ms);
}

PyObject* command_result(CommandStatus s, const char* what) {
  switch (s) {
    case CommandStatus::Applied: return PyLong_FromLong(TELERING_OK);
    case CommandStatus::Pending: return PyLong_FromLong(TELERING_PENDING);
    case CommandStatus::Rejected: break;
  }
  return raise_error(TELERING_E_REJECTED, "telering: %s: the reader rejected the command or this thread's lane stayed full",
                     what);
}

PyObject* breaker_command(Self* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames, bool open) {
  static const char* const kNames[] = {"component", "wait_ms", nullptr};
  const char* what = open ? "open_circuit_breaker" : "close_circuit_breaker";
  PyObject* a[2];
  if (!parse_args(what, args, nargs, kwnames, kNames, 1, a)) return nullptr;
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  const auto wait = wait_of(a[1], 2000);
  if (wait.count() < 0) return nullptr;
  if (!PyUnicode_Check(a[0]) || PyUnicode_GET_LENGTH(a[0]) == 0)
    return PyErr_Format(PyExc_ValueError, "%s() takes a non-empty component name", what);
  std::string_view text;
  if (!utf8_of(a[0], text)) return nullptr;
  const std::string component(clip_utf8(text, kMaxNameLength, nullptr));
  CommandStatus s;
  {
    WriterUse use(self);
    Py_BEGIN_ALLOW_THREADS
    s = open ? w->open_circuit_breaker(component, wait) : w->close_circuit_breaker(component, wait);
    Py_END_ALLOW_THREADS
  }
  return command_result(s, what);
}

PyObject* writer_open_breaker(Self* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return breaker_command(self, args, nargs, kwnames, true);
}
PyObject* writer_close_breaker(Self* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  return breaker_command(self, args, nargs, kwnames, false);
}

PyObject* writer_register_strategy(Self* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  static const char* const kNames[] = {"error_type", "severity", "action", "max_retries", "backoff_seconds", "wait_ms",
                                       nullptr};
  PyObject* a[6];
  if (!parse_args("register_recovery_strategy", args, nargs, kwnames, kNames, 3, a)) return nullptr;
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  Severity s;
  if (!severity_of(a[1], s)) return nullptr;
  const long action = PyLong_AsLong(a[2]);
  if (action == -1 && PyErr_Occurred()) return nullptr;
  if (action < TELERING_ACTION_RETRY || action > TELERING_ACTION_SHUTDOWN)
    return PyErr_Format(PyExc_ValueError, "action must be ACTION_RETRY..ACTION_SHUTDOWN (1..5), not %ld", action);
  long retries = 3;
  if (a[3] != nullptr && (retries = PyLong_AsLong(a[3])) == -1 && PyErr_Occurred()) return nullptr;
  if (retries < 0 || retries > 1000000) return PyErr_Format(PyExc_ValueError, "max_retries must be 0..1000000");
  double backoff = 0.0;
  if (a[4] != nullptr && (backoff = duration_of(a[4], "backoff_seconds")) < 0) return nullptr;
  if (backoff > 1e9) return PyErr_Format(PyExc_ValueError, "backoff_seconds must be <= 1e9");
  const auto wait = wait_of(a[5], 2000);
  if (wait.count() < 0) return nullptr;
  if (!PyUnicode_Check(a[0]) || PyUnicode_GET_LENGTH(a[0]) == 0)
    return PyErr_Format(PyExc_ValueError, "register_recovery_strategy() takes a non-empty error type");
  std::string_view text;
  if (!utf8_of(a[0], text)) return nullptr;
  const std::string type(clip_utf8(text, kMaxNameLength, nullptr));
  CommandStatus st;
  {
    WriterUse use(self);
    Py_BEGIN_ALLOW_THREADS
    st = w->register_recovery_strategy(type, s, static_cast<RecoveryAction>(action), static_cast<std::uint32_t>(retries),
                                       backoff, wait);
    Py_END_ALLOW_THREADS
  }
  return command_result(st, "register_recovery_strategy");
}

// Same protocol as telering_request_report (c_api.cpp): the command follows this thread's
// records in its lane, so the report published after its acknowledgement includes them.
PyObject* writer_request_report(Self* self, PyObject* const* args, Py_ssize_t nargs) {
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  const auto wait = wait_of(nargs > 0 ? args[0] : nullptr, 500);
  if (wait.count() < 0) return nullptr;
  bool ok = false;
  {
    WriterUse use(self);
    Py_BEGIN_ALLOW_THREADS
    const auto deadline = std::chrono::steady_clock::now() + wait;
    // Pairs with the reader's release increment after it publishes a report.
    const std::atomic<std::uint64_t>& seq = w->segment().board().report_seq;
    const std::uint64_t before = seq.load(std::memory_order_acquire);
    const std::uint64_t id = w->send_command(CommandCode::RequestReport, kNoName, Severity::None, {}, wait);
    if (id != 0 && w->wait_for_command(id, wait) == CommandStatus::Applied) {
      while (!(ok = seq.load(std::memory_order_acquire) != before) && std::chrono::steady_clock::now() < deadline)
        std::this_thread::sleep_for(std::chrono::microseconds(200));
    }
    Py_END_ALLOW_THREADS
  }
  return PyBool_FromLong(ok);
}

PyObject* writer_report_json(Self* self, PyObject*) {
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  try {
    const std::string json = w->run_full_health_check();
    return PyUnicode_DecodeUTF8(json.data(), static_cast<Py_ssize_t>(json.size()), "replace");
  } catch (const std::bad_alloc&) {
    return PyErr_NoMemory();
  } catch (const std::exception& e) {
    return raise_error(TELERING_E_INTERNAL, "telering: report: %s", e.what());
  }
}

PyObject* writer_stats(Self* self, PyObject*) {
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  const WriterStats s = w->stats();
  const SegmentHeader& h = w->segment().header();
  return Py_BuildValue("{s:K,s:K,s:K}", "lanes_claimed", static_cast<unsigned long long>(s.lanes_claimed), "dropped",
                       static_cast<unsigned long long>(s.dropped), "name_table_full",
                       static_cast<unsigned long long>(h.name_table_full.load(std::memory_order_relaxed)));
}

// ---- host-wide limits (fleet_limits.hpp) -----------------------------------------------

const char* acquire_name(Acquire a) {
  switch (a) {
    case Acquire::Granted: return "granted";
    case Acquire::Refused: return "refused";
    case Acquire::Unconfigured: return "unconfigured";
  }
  return "unconfigured";
}

PyObject* writer_rate_acquire(Self* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) return PyErr_Format(PyExc_TypeError, "rate_acquire(group, weight=1) takes 1 or 2 arguments");
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  long weight = 1;
  if (nargs == 2 && (weight = PyLong_AsLong(args[1])) == -1 && PyErr_Occurred()) return nullptr;
  if (weight < 1 || weight > 1000000) return PyErr_Format(PyExc_ValueError, "weight must be 1..1000000");
  if (!PyUnicode_Check(args[0])) return PyErr_Format(PyExc_TypeError, "rate_acquire() takes a group name (str)");
  std::string_view text;
  if (!utf8_of(args[0], text)) return nullptr;
  RateLimiter limiter = w->rate_limiter(clip_utf8(text, kMaxNameLength, nullptr));
  return PyUnicode_FromString(acquire_name(limiter.try_acquire(static_cast<std::uint32_t>(weight))));
}

PyObject* writer_retry_budget_take(Self* self, PyObject*) {
  Writer* w = live(self);
  if (w == nullptr) return nullptr;
  RetryBudget budget = w->retry_budget();
  return PyUnicode_FromString(acquire_name(budget.try_take()));
}

PyObject* writer_repr(Self* self) {
  if (self->segment == nullptr) return PyUnicode_FromString("<telering.Writer (not attached)>");
  return PyUnicode_FromFormat("<telering.Writer segment=%R bot=%R %s>", self->segment, self->bot,
                              self->native ? "attached" : "detached");
}

#define FAST(fn) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fn))

PyMethodDef kMethods[] = {
    {"detach", FAST(writer_detach), METH_NOARGS,
     PyDoc_STR("detach() -> None: releases this writer's lanes. Later calls raise TeleringError; a call in flight on "
               "another thread finishes first.")},
    {"_after_fork_child", FAST(writer_after_fork_child), METH_NOARGS,
     PyDoc_STR("_after_fork_child() -> None: forgets calls of threads that do not exist after fork().")},
    {"intern", FAST(writer_intern), METH_FASTCALL, PyDoc_STR("intern(kind, name) -> int: the name's id (0 = table full).")},
    {"scan_time", FAST(writer_scan_time), METH_FASTCALL, PyDoc_STR("scan_time(seconds) -> int status: a scan took seconds.")},
    {"api_call", FAST(writer_api_call), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("api_call(seconds, endpoint=None) -> int status: an API call's latency, optionally per endpoint.")},
    {"memory", FAST(writer_memory), METH_NOARGS, PyDoc_STR("memory() -> int status: records this process's RSS.")},
    {"memory_bytes", FAST(writer_memory_bytes), METH_O, PyDoc_STR("memory_bytes(n) -> int status: records n bytes of RSS.")},
    {"error", FAST(writer_error), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("error(error_type, severity=2, context=None, component=None) -> int status: one error; the context "
               "is clipped to CONTEXT_CAPACITY bytes on a character boundary, with the truncation flag.")},
    {"warning", FAST(writer_warning), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("warning(warning_type, context=None) -> int status: one warning.")},
    {"call_outcome", FAST(writer_call_outcome), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("call_outcome(component, success, seconds=0.0) -> int status: a call guarded by the breaker.")},
    {"counter", FAST(writer_counter), METH_FASTCALL, PyDoc_STR("counter(metric, increment=1.0) -> int status.")},
    {"gauge", FAST(writer_gauge), METH_FASTCALL, PyDoc_STR("gauge(metric, value) -> int status.")},
    {"heartbeat", FAST(writer_heartbeat), METH_NOARGS, PyDoc_STR("heartbeat() -> int status: this thread is alive.")},
    {"breaker_open", FAST(writer_breaker_open), METH_O,
     PyDoc_STR("breaker_open(component) -> bool: the host-wide breaker stops calls now (the reader's board).")},
    {"breaker_state", FAST(writer_breaker_state), METH_O,
     PyDoc_STR("breaker_state(component) -> str: CLOSED, OPEN, HALF_OPEN, FORCED_OPEN or DISABLED.")},
    {"in_backoff", FAST(writer_in_backoff), METH_O,
     PyDoc_STR("in_backoff(error_type) -> bool: the reader asks every bot to back off this error type now.")},
    {"backoff_until_ns", FAST(writer_backoff_until_ns), METH_O,
     PyDoc_STR("backoff_until_ns(error_type) -> int: CLOCK_MONOTONIC ns the backoff ends (0 = none).")},
    {"backoff_remaining", FAST(writer_backoff_remaining), METH_O,
     PyDoc_STR("backoff_remaining(error_type) -> float: seconds of the reader's backoff still to wait.")},
    {"reset_epoch", FAST(writer_reset_epoch), METH_O,
     PyDoc_STR("reset_epoch(name) -> int: bumped by every RESET decision for a component or error type.")},
    {"global_reset_epoch", FAST(writer_global_reset_epoch), METH_NOARGS, PyDoc_STR("global_reset_epoch() -> int.")},
    {"shutdown_requested", FAST(writer_shutdown_requested), METH_NOARGS,
     PyDoc_STR("shutdown_requested() -> bool: the reader decided SHUTDOWN.")},
    {"reader_alive", FAST(writer_reader_alive), METH_FASTCALL,
     PyDoc_STR("reader_alive(max_age_ms=2000) -> bool: the reader's heartbeat is fresher than max_age_ms.")},
    {"overall_health", FAST(writer_overall_health), METH_NOARGS,
     PyDoc_STR("overall_health() -> str: the host's health from the reader; UNKNOWN without a live reader.")},
    {"decision", FAST(writer_decision), METH_FASTCALL,
     PyDoc_STR("decision(kind, name) -> dict | None: the board entry of a name (None if never interned).")},
    {"should_trigger_recovery", FAST(writer_should_trigger_recovery), METH_O,
     PyDoc_STR("should_trigger_recovery(error_type) -> bool: the reader's latest decision for it is in force.")},
    {"open_circuit_breaker", FAST(writer_open_breaker), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("open_circuit_breaker(component, wait_ms=2000) -> int: asks the reader to open the host-wide breaker; "
               "OK once applied, PENDING when no reader answered in time.")},
    {"close_circuit_breaker", FAST(writer_close_breaker), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("close_circuit_breaker(component, wait_ms=2000) -> int: as open_circuit_breaker, closing it.")},
    {"register_recovery_strategy", FAST(writer_register_strategy), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("register_recovery_strategy(error_type, severity, action, max_retries=3, backoff_seconds=0.0, "
               "wait_ms=2000) -> int: a strategy for the reader (host-wide).")},
    {"request_report", FAST(writer_request_report), METH_FASTCALL,
     PyDoc_STR("request_report(wait_ms=500) -> bool: asks the reader for a report that includes every record this "
               "thread made; True once it is on the page.")},
    {"report_json", FAST(writer_report_json), METH_NOARGS,
     PyDoc_STR("report_json() -> str: the reader's latest host report (UNKNOWN with a reason when no reader).")},
    {"stats", FAST(writer_stats), METH_NOARGS,
     PyDoc_STR("stats() -> dict: lanes_claimed, dropped (this writer's lanes), name_table_full (segment).")},
    {"rate_acquire", FAST(writer_rate_acquire), METH_FASTCALL,
     PyDoc_STR("rate_acquire(group, weight=1) -> str: 'granted', 'refused' or 'unconfigured' from the host-wide "
               "rate limiter the reader configured for group.")},
    {"retry_budget_take", FAST(writer_retry_budget_take), METH_NOARGS,
     PyDoc_STR("retry_budget_take() -> str: 'granted', 'refused' or 'unconfigured': one token of the host's retry "
               "budget.")},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef kGetSet[] = {
    {"attached", reinterpret_cast<getter>(get_attached), nullptr, PyDoc_STR("True until detach()."), nullptr},
    {"segment", reinterpret_cast<getter>(get_segment), nullptr, PyDoc_STR("The segment's name."), nullptr},
    {"bot", reinterpret_cast<getter>(get_bot), nullptr, PyDoc_STR("This bot's name."), nullptr},
    {"options", reinterpret_cast<getter>(get_options), nullptr, PyDoc_STR("The attach options, as a dict."), nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

}  // namespace

PyTypeObject WriterType = {PyVarObject_HEAD_INIT(nullptr, 0)};

bool add_writer_type(PyObject* module) {
  WriterType.tp_name = "telering.Writer";
  WriterType.tp_basicsize = sizeof(WriterObject);
  WriterType.tp_flags = Py_TPFLAGS_DEFAULT;
  WriterType.tp_doc = PyDoc_STR(
      "Writer(segment='telering', bot='python-bot', *, mode=0, group=None, trust_other_owner=False, "
      "sample_memory=True, memory_interval_ms=1000, lane_count=0, lane_capacity=0, mpsc_capacity=0, "
      "name_capacity=0)\n\n"
      "One attached telering writer. Thread-safe: each Python thread records into its own lane. Recording "
      "methods return the C status (OK, RECORDED_SHARED, DROPPED, NO_NAME) and raise TypeError / ValueError "
      "for bad arguments; after detach() every call raises TeleringError. mode, group and trust_other_owner "
      "are telering_writer_options' (a segment shared through a group: mode=0o660, group='bots').");
  WriterType.tp_new = writer_new;
  WriterType.tp_init = reinterpret_cast<initproc>(writer_init);
  WriterType.tp_dealloc = reinterpret_cast<destructor>(writer_dealloc);
  WriterType.tp_repr = reinterpret_cast<reprfunc>(writer_repr);
  WriterType.tp_methods = kMethods;
  WriterType.tp_getset = kGetSet;
  WriterType.tp_weaklistoffset = offsetof(WriterObject, weakrefs);
  return PyType_Ready(&WriterType) == 0 &&
         PyModule_AddObjectRef(module, "Writer", reinterpret_cast<PyObject*>(&WriterType)) == 0;
}

}  // namespace telering::python
