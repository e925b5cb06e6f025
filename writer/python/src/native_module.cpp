// native_module.cpp — telering._native: module set-up, the process-wide writer, and the
// small helpers every type uses (argument parsing, names, clocks, datetimes).
#include <cmath>
#include <cstdarg>
#include <cstring>
#include <ctime>
#include <string>
#include <vector>

#include "evaluate/health_summary_text.hpp"
#include "native.hpp"
#include "telering/core/clock.hpp"
#include "telering/telering_writer.h"

namespace telering::python {

Cache g{};
PyObject* TeleringError = nullptr;
WriterObject* g_current = nullptr;

PyObject* raise_error(int status, const char* format, ...) {
  va_list va;
  va_start(va, format);
  PyObject* message = PyUnicode_FromFormatV(format, va);
  va_end(va);
  if (message == nullptr) return nullptr;
  PyObject* error = PyObject_CallOneArg(TeleringError, message);
  Py_DECREF(message);
  if (error == nullptr) return nullptr;
  PyObject* code = PyLong_FromLong(status);
  if (code == nullptr || PyObject_SetAttrString(error, "status", code) < 0) {
    Py_XDECREF(code);
    Py_DECREF(error);
    return nullptr;
  }
  Py_DECREF(code);
  PyErr_SetObject(TeleringError, error);
  Py_DECREF(error);
  return nullptr;
}

WriterObject* resolve_writer(WriterObject* own) {
  if (own != nullptr && own->segment == nullptr) {
    raise_error(TELERING_E_INVALID_ARGUMENT, "telering: this Writer was never attached");
    return nullptr;
  }
  if (own != nullptr) {
    // An explicit writer that was detached: never fall back to another segment.
    raise_error(TELERING_E_INVALID_ARGUMENT,
                "telering: this Writer (segment '%U', bot '%U') was detached; attach a new one to record again",
                own->segment, own->bot);
    return nullptr;
  }
  if (g.resolver == nullptr) {
    raise_error(TELERING_E_ATTACH, "telering: no writer (import telering to set up the session)");
    return nullptr;
  }
  // The session attaches on first use, or raises after an explicit detach().
  PyObject* r = PyObject_CallNoArgs(g.resolver);
  if (r == nullptr) return nullptr;
  Py_DECREF(r);
  if (g_current == nullptr || g_current->native == nullptr) {
    raise_error(TELERING_E_ATTACH, "telering: the session did not attach a writer");
    return nullptr;
  }
  return g_current;
}

WriterUse::~WriterUse() {
  if (--w_->in_use == 0 && w_->retiring != nullptr) {
    Writer* gone = w_->retiring;
    w_->retiring = nullptr;
    delete gone;
  }
}

std::string_view clip_utf8(std::string_view text, std::size_t max_bytes, bool* clipped) noexcept {
  if (text.size() <= max_bytes) {
    if (clipped) *clipped = false;
    return text;
  }
  std::size_t n = max_bytes;
  // Back off continuation bytes (10xxxxxx) so the cut falls before a character's first byte.
  while (n > 0 && (static_cast<unsigned char>(text[n]) & 0xC0) == 0x80) --n;
  if (clipped) *clipped = true;
  return text.substr(0, n);
}

bool utf8_of(PyObject* text, std::string_view& out) {
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(text, &size);
  if (data == nullptr) return false;
  out = std::string_view(data, static_cast<std::size_t>(size));
  return true;
}

long name_id(WriterObject* w, NameKind kind, PyObject* name, bool intern) {
  PyObject* ids = w->ids[static_cast<int>(kind)];
  PyObject* cached = PyDict_GetItemWithError(ids, name);
  if (cached != nullptr) return PyLong_AsLong(cached);
  if (PyErr_Occurred()) return -1;
  if (!PyUnicode_Check(name)) {
    PyErr_Format(PyExc_TypeError, "a telering name must be a str, not %.100s", Py_TYPE(name)->tp_name);
    return -1;
  }
  std::string_view text;
  if (!utf8_of(name, text)) return -1;
  // The table keeps kMaxNameLength bytes: clip here on a character boundary, not inside one.
  text = clip_utf8(text, kMaxNameLength, nullptr);
  const NameId id = intern ? w->native->name(kind, text) : w->native->names().find(kind, text);
  if (id == kNoName) return 0;
  PyObject* value = PyLong_FromLong(id);
  if (value == nullptr || PyDict_SetItem(ids, name, value) < 0) {
    Py_XDECREF(value);
    return -1;
  }
  Py_DECREF(value);
  return id;
}

double wall_now() noexcept {
  timespec ts{};
  clock_gettime(CLOCK_REALTIME, &ts);
  return static_cast<double>(ts.tv_sec) + static_cast<double>(ts.tv_nsec) * 1e-9;
}

PyObject* local_datetime(double seconds) {
  PyObject* ts = PyFloat_FromDouble(seconds);
  if (ts == nullptr) return nullptr;
  PyObject* dt = PyObject_CallOneArg(g.fromtimestamp, ts);
  Py_DECREF(ts);
  return dt;
}

double timestamp_of(PyObject* datetime) {
  PyObject* r = PyObject_CallMethod(datetime, "timestamp", nullptr);
  if (r == nullptr) return -1.0;
  const double v = PyFloat_AsDouble(r);
  Py_DECREF(r);
  return v;
}

bool parse_args(const char* function, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames,
                const char* const* names, int required, PyObject** out) {
  int count = 0;
  while (names[count] != nullptr) out[count++] = nullptr;
  if (nargs > count) {
    PyErr_Format(PyExc_TypeError, "%s() takes at most %d arguments (%zd given)", function, count, nargs);
    return false;
  }
  for (Py_ssize_t i = 0; i < nargs; ++i) out[i] = args[i];
  if (kwnames != nullptr) {
    const Py_ssize_t nkw = PyTuple_GET_SIZE(kwnames);
    for (Py_ssize_t k = 0; k < nkw; ++k) {
      PyObject* key = PyTuple_GET_ITEM(kwnames, k);
      int found = -1;
      for (int i = 0; i < count; ++i)
        if (PyUnicode_CompareWithASCIIString(key, names[i]) == 0) found = i;
      if (found < 0) {
        PyErr_Format(PyExc_TypeError, "%s() got an unexpected keyword argument '%U'", function, key);
        return false;
      }
      if (out[found] != nullptr) {
        PyErr_Format(PyExc_TypeError, "%s() got multiple values for argument '%s'", function, names[found]);
        return false;
      }
      out[found] = args[nargs + k];
    }
  }
  for (int i = 0; i < required; ++i)
    if (out[i] == nullptr) {
      PyErr_Format(PyExc_TypeError, "%s() missing required argument '%s'", function, names[i]);
      return false;
    }
  return true;
}

double duration_of(PyObject* value, const char* what) {
  double d;
  if (PyFloat_CheckExact(value)) [[likely]] {
    d = PyFloat_AS_DOUBLE(value);
  } else {
    if (value == Py_None || !PyNumber_Check(value) || PyComplex_Check(value)) {
      PyErr_Format(PyExc_TypeError, "%s must be a number of seconds, not %.100s", what, Py_TYPE(value)->tp_name);
      return -1.0;
    }
    d = PyFloat_AsDouble(value);
    if (d == -1.0 && PyErr_Occurred()) return -1.0;
  }
  if (!(d >= 0.0) || std::isinf(d)) [[unlikely]] {
    PyErr_Format(PyExc_ValueError, "%s must be a finite number of seconds >= 0, not %R", what, value);
    return -1.0;
  }
  return d;
}

namespace {

// _set_current(writer or None): the process-wide writer (telering._session's).
PyObject* set_current(PyObject*, PyObject* w) {
  if (w != Py_None && !PyObject_TypeCheck(w, &WriterType)) {
    PyErr_SetString(PyExc_TypeError, "_set_current() takes a Writer or None");
    return nullptr;
  }
  WriterObject* old = g_current;
  g_current = w == Py_None ? nullptr : reinterpret_cast<WriterObject*>(w);
  Py_XINCREF(g_current);
  Py_XDECREF(old);
  Py_RETURN_NONE;
}

PyObject* get_current(PyObject*, PyObject*) {
  if (g_current == nullptr) Py_RETURN_NONE;
  return Py_NewRef(reinterpret_cast<PyObject*>(g_current));
}

PyObject* set_resolver(PyObject*, PyObject* fn) {
  if (!PyCallable_Check(fn)) {
    PyErr_SetString(PyExc_TypeError, "_set_resolver() takes a callable");
    return nullptr;
  }
  Py_XSETREF(g.resolver, Py_NewRef(fn));
  Py_RETURN_NONE;
}

// _set_severities(ErrorSeverity): its members by value 1..4 are the severities record_error
// accepts (checked by identity on the hot path).
PyObject* set_severities(PyObject*, PyObject* enum_type) {
  for (int level = 1; level <= 4; ++level) {
    PyObject* v = PyLong_FromLong(level);
    if (v == nullptr) return nullptr;
    PyObject* member = PyObject_CallOneArg(enum_type, v);
    Py_DECREF(v);
    if (member == nullptr) return nullptr;
    Py_XSETREF(g.severity[level], member);
  }
  Py_RETURN_NONE;
}

PyObject* py_monotonic_ns(PyObject*, PyObject*) { return PyLong_FromUnsignedLongLong(telering::monotonic_ns()); }

// A HEALTH_STATUS_NAMES string back to its value; any other text is UNKNOWN.
HealthStatus status_of(PyObject* text) {
  Py_ssize_t n = 0;
  const char* s = PyUnicode_Check(text) ? PyUnicode_AsUTF8AndSize(text, &n) : nullptr;
  if (s == nullptr) {
    PyErr_Clear();
    return HealthStatus::Unknown;
  }
  for (unsigned i = 0; i <= TELERING_HEALTH_CRITICAL; ++i)
    if (to_string(static_cast<HealthStatus>(i)) == std::string_view(s, static_cast<std::size_t>(n)))
      return static_cast<HealthStatus>(i);
  return HealthStatus::Unknown;
}

// format_health_summary(timestamp, overall, checks, avg_scan_time, memory_mb, errors, warnings):
// the seed's summary block from the reader's one formatter (reader/src/evaluate/
// health_summary_text.cpp, compiled into this module). checks: (name, status, message) tuples.
PyObject* format_health_summary(PyObject*, PyObject* args) {
  const char* timestamp = nullptr;
  PyObject* overall = nullptr;
  PyObject* checks = nullptr;
  double avg_scan = 0, memory_mb = 0;
  unsigned long long errors = 0, warnings = 0;
  if (!PyArg_ParseTuple(args, "sOOddKK", &timestamp, &overall, &checks, &avg_scan, &memory_mb, &errors, &warnings))
    return nullptr;
  PyObject* seq = PySequence_Fast(checks, "checks must be a sequence of (name, status, message)");
  if (seq == nullptr) return nullptr;
  std::vector<reader::SummaryComponent> components;
  const Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
  for (Py_ssize_t i = 0; i < count; ++i) {
    const char* name = nullptr;
    PyObject* status = nullptr;
    const char* message = nullptr;
    if (!PyArg_ParseTuple(PySequence_Fast_GET_ITEM(seq, i), "sOs", &name, &status, &message)) {
      Py_DECREF(seq);
      return nullptr;
    }
    components.push_back(reader::SummaryComponent{name, status_of(status), message});
  }
  const std::string text = reader::format_summary_text(reader::SummaryText{
      timestamp, status_of(overall), components, avg_scan, memory_mb, errors, warnings});
  Py_DECREF(seq);  // after the formatting: the components' texts point into its items
  return PyUnicode_FromStringAndSize(text.data(), static_cast<Py_ssize_t>(text.size()));
}

PyMethodDef kModuleMethods[] = {
    {"_set_current", set_current, METH_O, PyDoc_STR("_set_current(writer) -> None: the process-wide Writer (or None).")},
    {"_get_current", get_current, METH_NOARGS, PyDoc_STR("_get_current() -> Writer | None: the process-wide Writer.")},
    {"_set_resolver", set_resolver, METH_O,
     PyDoc_STR("_set_resolver(fn) -> None: called when the process-wide Writer is needed and absent.")},
    {"_set_severities", set_severities, METH_O,
     PyDoc_STR("_set_severities(ErrorSeverity) -> None: the enum whose members record_error accepts.")},
    {"monotonic_ns", py_monotonic_ns, METH_NOARGS,
     PyDoc_STR("monotonic_ns() -> int: CLOCK_MONOTONIC in ns, the clock of backoff deadlines.")},
    {"format_health_summary", format_health_summary, METH_VARARGS,
     PyDoc_STR("format_health_summary(timestamp, overall, checks, avg_scan_time, memory_mb, errors, warnings) -> str: "
               "the seed's summary block (the reader's formatter); checks are (name, status, message).")},
    {nullptr, nullptr, 0, nullptr},
};

int add_constants(PyObject* m) {
  struct Constant {
    const char* name;
    long value;
  };
  // Every value comes from the C header (telering_writer.h), whose values c_api.cpp pins to
  // the C++ enums: Python keeps no copy of its own.
  static const Constant kConstants[] = {
      {"OK", TELERING_OK}, {"RECORDED_SHARED", TELERING_RECORDED_SHARED}, {"DROPPED", TELERING_DROPPED},
      {"NO_NAME", TELERING_NO_NAME}, {"PENDING", TELERING_PENDING}, {"E_INVALID_ARGUMENT", TELERING_E_INVALID_ARGUMENT},
      {"E_ATTACH", TELERING_E_ATTACH}, {"E_REJECTED", TELERING_E_REJECTED}, {"E_NO_MEMORY", TELERING_E_NO_MEMORY},
      {"E_INTERNAL", TELERING_E_INTERNAL},
      {"SEVERITY_LOW", TELERING_SEVERITY_LOW}, {"SEVERITY_MEDIUM", TELERING_SEVERITY_MEDIUM},
      {"SEVERITY_HIGH", TELERING_SEVERITY_HIGH}, {"SEVERITY_CRITICAL", TELERING_SEVERITY_CRITICAL},
      {"ACTION_NONE", TELERING_ACTION_NONE}, {"ACTION_RETRY", TELERING_ACTION_RETRY},
      {"ACTION_BACKOFF", TELERING_ACTION_BACKOFF}, {"ACTION_RESET", TELERING_ACTION_RESET},
      {"ACTION_ALERT", TELERING_ACTION_ALERT}, {"ACTION_SHUTDOWN", TELERING_ACTION_SHUTDOWN},
      {"BREAKER_CLOSED", TELERING_BREAKER_CLOSED}, {"BREAKER_OPEN", TELERING_BREAKER_OPEN},
      {"BREAKER_HALF_OPEN", TELERING_BREAKER_HALF_OPEN}, {"BREAKER_FORCED_OPEN", TELERING_BREAKER_FORCED_OPEN},
      {"BREAKER_DISABLED", TELERING_BREAKER_DISABLED},
      {"HEALTH_UNKNOWN", TELERING_HEALTH_UNKNOWN}, {"HEALTH_HEALTHY", TELERING_HEALTH_HEALTHY},
      {"HEALTH_WARNING", TELERING_HEALTH_WARNING}, {"HEALTH_CRITICAL", TELERING_HEALTH_CRITICAL},
      {"NAME_BOT", TELERING_NAME_BOT}, {"NAME_COMPONENT", TELERING_NAME_COMPONENT},
      {"NAME_ERROR_TYPE", TELERING_NAME_ERROR_TYPE}, {"NAME_WARNING_TYPE", TELERING_NAME_WARNING_TYPE},
      {"NAME_ENDPOINT", TELERING_NAME_ENDPOINT}, {"NAME_METRIC", TELERING_NAME_METRIC},
      {"NAME_RATE_GROUP", TELERING_NAME_RATE_GROUP},
      {"CONTEXT_CAPACITY", static_cast<long>(kContextCapacity)},
      {"MAX_NAME_LENGTH", static_cast<long>(kMaxNameLength)},
      {"C_ABI_VERSION", TELERING_C_ABI_VERSION},
  };
  for (const Constant& c : kConstants)
    if (PyModule_AddIntConstant(m, c.name, c.value) < 0) return -1;
  // The names of board values, indexed by value (to_string in telering/core/layout.hpp):
  // telering.HealthStatus and telering.RecoveryAction take theirs from here.
  const auto names = [m](const char* tuple_name, unsigned count, auto name_of) {
    PyObject* t = PyTuple_New(count);
    if (t == nullptr) return -1;
    for (unsigned i = 0; i < count; ++i) {
      const std::string_view n = name_of(i);
      PyObject* s = PyUnicode_FromStringAndSize(n.data(), static_cast<Py_ssize_t>(n.size()));
      if (s == nullptr) {
        Py_DECREF(t);
        return -1;
      }
      PyTuple_SET_ITEM(t, i, s);
    }
    return PyModule_AddObject(m, tuple_name, t) < 0 ? (Py_DECREF(t), -1) : 0;
  };
  if (names("BREAKER_STATE_NAMES", kMaxBreakerState + 1, [](unsigned i) { return to_string(static_cast<BreakerState>(i)); }) < 0 ||
      names("HEALTH_STATUS_NAMES", TELERING_HEALTH_CRITICAL + 1, [](unsigned i) { return to_string(static_cast<HealthStatus>(i)); }) < 0 ||
      names("RECOVERY_ACTION_NAMES", kMaxRecoveryAction + 1, [](unsigned i) { return to_string(static_cast<RecoveryAction>(i)); }) < 0)
    return -1;
  return PyModule_AddStringConstant(m, "VERSION", TELERING_VERSION_STRING);
}

PyObject* intern(const char* text) { return PyUnicode_InternFromString(text); }

int cache_objects() {
  PyObject* collections = PyImport_ImportModule("collections");
  if (collections == nullptr) return -1;
  g.deque_type = PyObject_GetAttrString(collections, "deque");
  Py_DECREF(collections);
  if (g.deque_type == nullptr) return -1;
  g.deque_append = PyObject_GetAttrString(g.deque_type, "append");
  PyObject* datetime = PyImport_ImportModule("datetime");
  if (datetime == nullptr) return -1;
  g.datetime_type = PyObject_GetAttrString(datetime, "datetime");
  Py_DECREF(datetime);
  if (g.datetime_type == nullptr) return -1;
  g.fromtimestamp = PyObject_GetAttrString(g.datetime_type, "fromtimestamp");
  // Seed's log levels and message prefixes by severity (LOW..CRITICAL).
  static const int kLevels[5] = {0, 10, 30, 40, 50};
  static const char* const kMethods[5] = {"", "debug", "warning", "error", "critical"};
  static const char* const kPrefixes[5] = {"", "INFO", "WARNING", "ERROR", "CRITICAL ERROR"};
  for (int i = 1; i <= 4; ++i) {
    g.log_level[i] = PyLong_FromLong(kLevels[i]);
    g.log_method[i] = intern(kMethods[i]);
    g.log_prefix[i] = intern(kPrefixes[i]);
  }
  g.str_cache = intern("_cache");
  g.str_disabled = intern("disabled");
  g.str_severity = intern("severity");
  g.str_is_enabled_for = intern("isEnabledFor");
  g.str_name = intern("name");
  g.str_append = intern("append");
  g.str_local_breaker_open = intern("_local_breaker_open");
  return g.deque_append && g.fromtimestamp && g.str_local_breaker_open ? 0 : -1;
}

PyModuleDef kModule = {
    PyModuleDef_HEAD_INIT,
    "telering._native",
    PyDoc_STR("telering's native recording path: the writer (telering::Writer, linked statically) and the seed's "
              "hot methods, for CPython."),
    -1,
    kModuleMethods,
    nullptr,
    nullptr,
    nullptr,
    nullptr,
};

}  // namespace
}  // namespace telering::python

PyMODINIT_FUNC PyInit__native(void) {
  using namespace telering::python;
  PyObject* m = PyModule_Create(&kModule);
  if (m == nullptr) return nullptr;
  if (cache_objects() < 0 || !init_log_fast_path()) {
    Py_DECREF(m);
    return nullptr;
  }
  TeleringError = PyErr_NewExceptionWithDoc(
      "telering.TeleringError",
      "A telering call that failed: .status is the C status code (telering_writer.h), the message says why and "
      "what to do.",
      PyExc_RuntimeError, nullptr);
  if (TeleringError == nullptr || PyModule_AddObjectRef(m, "TeleringError", TeleringError) < 0 ||
      PyModule_AddFunctions(m, kInspectMethods) < 0 || add_constants(m) < 0 || !add_writer_type(m) ||
      !add_monitor_type(m) || !add_error_types(m)) {
    Py_DECREF(m);
    return nullptr;
  }
  return m;
}
