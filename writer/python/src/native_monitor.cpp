// native_monitor.cpp — telering._native.PerformanceMonitor: the seed's PerformanceMonitor,
// recording half. Every call records into the segment (the reader's host view) and into
// this instance's own windows (the seed's view: the last window_size values).
//
// Invariant: all state is touched only with the GIL held and no call releases it, so each
// method is atomic with respect to every other Python thread, as the seed's Lock made it.
#include <cmath>
#include <cstring>
#include <new>

#include "native.hpp"

namespace telering::python {
namespace {

// The last `capacity` values, oldest first from `next - count`.
struct Window {
  double* values = nullptr;
  Py_ssize_t capacity = 0;
  Py_ssize_t count = 0;
  Py_ssize_t next = 0;

  void push(double v) noexcept {
    values[next] = v;
    next = next + 1 == capacity ? 0 : next + 1;
    if (count < capacity) ++count;
  }
  double at(Py_ssize_t i) const noexcept {  // i-th oldest
    Py_ssize_t k = next - count + i;
    if (k < 0) k += capacity;
    return values[k];
  }
};

struct MonitorObject {
  PyObject_HEAD
  WriterObject* writer;  // nullptr: the process-wide writer
  Window scan;
  Window api;
  Window memory;
  long long error_count;
  long long warning_count;
  double last_error_time;  // wall seconds; 0 = None
  PyObject* weakrefs;
};

using Self = MonitorObject;

// error_recovery's record_error on this thread at this wall time: a bare
// PerformanceMonitor.record_error() right after it is the same error (the seed records an
// exception in both places), so the segment gets one Error record, not two.
thread_local double t_error_recorded_at = 0.0;
constexpr double kSameErrorWindow = 1.0;

bool alloc_window(Window& w, Py_ssize_t size) {
  w.values = static_cast<double*>(PyMem_Calloc(static_cast<std::size_t>(size), sizeof(double)));
  w.capacity = size;
  if (w.values == nullptr) PyErr_NoMemory();
  return w.values != nullptr;
}

int monitor_init(Self* self, PyObject* args, PyObject* kwargs) {
  static const char* kNames[] = {"window_size", "writer", nullptr};
  Py_ssize_t size = 100;
  PyObject* writer = Py_None;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "|n$O:PerformanceMonitor", const_cast<char**>(kNames), &size, &writer))
    return -1;
  if (size < 1 || size > 100000000) {
    PyErr_Format(PyExc_ValueError, "window_size must be 1..100000000, not %zd", size);
    return -1;
  }
  if (writer != Py_None && !PyObject_TypeCheck(writer, &WriterType)) {
    PyErr_Format(PyExc_TypeError, "writer must be a telering.Writer or None, not %.100s", Py_TYPE(writer)->tp_name);
    return -1;
  }
  if (self->scan.values != nullptr) {
    PyErr_SetString(PyExc_RuntimeError, "PerformanceMonitor.__init__ runs once");
    return -1;
  }
  Py_XSETREF(self->writer, writer == Py_None ? nullptr : reinterpret_cast<WriterObject*>(Py_NewRef(writer)));
  return alloc_window(self->scan, size) && alloc_window(self->api, size) && alloc_window(self->memory, size) ? 0 : -1;
}

void monitor_dealloc(Self* self) {
  PyObject_GC_UnTrack(self);
  if (self->weakrefs != nullptr) PyObject_ClearWeakRefs(reinterpret_cast<PyObject*>(self));
  Py_CLEAR(self->writer);
  PyMem_Free(self->scan.values);
  PyMem_Free(self->api.values);
  PyMem_Free(self->memory.values);
  Py_TYPE(self)->tp_free(reinterpret_cast<PyObject*>(self));  // a subclass's type ref is subtype_dealloc's
}

int monitor_traverse(Self* self, visitproc visit, void* arg) {
  Py_VISIT(self->writer);
  return 0;
}

int monitor_clear(Self* self) {
  Py_CLEAR(self->writer);
  return 0;
}

bool ready(Self* self) {
  if (self->scan.values != nullptr) [[likely]] return true;
  PyErr_SetString(PyExc_RuntimeError, "PerformanceMonitor.__init__ was not called");
  return false;
}

// One positional or keyword argument named `name`.
PyObject* one_arg(const char* function, const char* name, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  if (nargs == 1 && kwnames == nullptr) [[likely]] return args[0];
  const char* const names[] = {name, nullptr};
  PyObject* out[1];
  return parse_args(function, args, nargs, kwnames, names, 1, out) ? out[0] : nullptr;
}

PyObject* record_scan_time(Self* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* arg = one_arg("record_scan_time", "duration", args, nargs, kwnames);
  if (arg == nullptr || !ready(self)) return nullptr;
  const double d = duration_of(arg, "duration");
  if (d < 0) return nullptr;
  WriterObject* w = writer_of(self->writer);
  if (w == nullptr) return nullptr;
  (void)w->native->scan_time(d);  // a drop is counted in the lane (stats()), as the C ABI reports it
  self->scan.push(d);
  Py_RETURN_NONE;
}

PyObject* record_api_call(Self* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  PyObject* duration;
  PyObject* endpoint = nullptr;
  if (nargs == 1 && kwnames == nullptr) [[likely]] {
    duration = args[0];
  } else {
    static const char* const kNames[] = {"duration", "endpoint", nullptr};
    PyObject* a[2];
    if (!parse_args("record_api_call", args, nargs, kwnames, kNames, 1, a)) return nullptr;
    duration = a[0];
    endpoint = a[1] == Py_None ? nullptr : a[1];
  }
  if (!ready(self)) return nullptr;
  const double d = duration_of(duration, "duration");
  if (d < 0) return nullptr;
  WriterObject* w = writer_of(self->writer);
  if (w == nullptr) return nullptr;
  long id = 0;
  if (endpoint != nullptr && (id = name_id(w, NameKind::Endpoint, endpoint, true)) < 0) return nullptr;
  (void)w->native->api_call(d, static_cast<NameId>(id));
  self->api.push(d);
  Py_RETURN_NONE;
}

PyObject* record_error(Self* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  static const char* const kNames[] = {"error_type", "message", nullptr};
  PyObject* a[2];
  if (!parse_args("record_error", args, nargs, kwnames, kNames, 0, a) || !ready(self)) return nullptr;
  WriterObject* w = writer_of(self->writer);
  if (w == nullptr) return nullptr;
  const double now = wall_now();
  if (a[0] != nullptr || now - t_error_recorded_at > kSameErrorWindow) {
    PyObject* type = a[0];
    if (type == nullptr && (type = PyUnicode_InternFromString("unspecified_error")) == nullptr) return nullptr;
    const long id = name_id(w, NameKind::ErrorType, type, true);
    if (a[0] == nullptr) Py_DECREF(type);
    if (id < 0) return nullptr;
    std::string_view text;
    if (a[1] != nullptr && a[1] != Py_None && (!PyUnicode_Check(a[1]) || !utf8_of(a[1], text)))
      return PyErr_Format(PyExc_TypeError, "message must be a str");
    if (id != 0) (void)record_with_text(*w->native, RecordKind::Error, static_cast<NameId>(id), Severity::Medium, kNoName, text);
  }
  t_error_recorded_at = 0.0;  // one bare call absorbs one manager error
  ++self->error_count;
  self->last_error_time = now;
  Py_RETURN_NONE;
}

PyObject* record_warning(Self* self, PyObject* const* args, Py_ssize_t nargs, PyObject* kwnames) {
  static const char* const kNames[] = {"warning_type", "message", nullptr};
  PyObject* a[2];
  if (!parse_args("record_warning", args, nargs, kwnames, kNames, 0, a) || !ready(self)) return nullptr;
  WriterObject* w = writer_of(self->writer);
  if (w == nullptr) return nullptr;
  PyObject* type = a[0] == nullptr || a[0] == Py_None ? nullptr : a[0];
  if (type == nullptr && (type = PyUnicode_InternFromString("unspecified_warning")) == nullptr) return nullptr;
  const long id = name_id(w, NameKind::WarningType, type, true);
  if (a[0] == nullptr || a[0] == Py_None) Py_DECREF(type);
  if (id < 0) return nullptr;
  std::string_view text;
  if (a[1] != nullptr && a[1] != Py_None && (!PyUnicode_Check(a[1]) || !utf8_of(a[1], text)))
    return PyErr_Format(PyExc_TypeError, "message must be a str");
  if (id != 0) (void)record_with_text(*w->native, RecordKind::Warning, static_cast<NameId>(id), Severity::None, kNoName, text);
  ++self->warning_count;
  Py_RETURN_NONE;
}

PyObject* update_memory_usage(Self* self, PyObject*) {
  if (!ready(self)) return nullptr;
  WriterObject* w = writer_of(self->writer);
  if (w == nullptr) return nullptr;
  const double rss = static_cast<double>(w->native->rss_bytes());
  (void)w->native->memory_bytes(rss);
  self->memory.push(rss / 1024.0 / 1024.0);
  Py_RETURN_NONE;
}

PyObject* window_deque(const Window& w) {
  PyObject* list = PyList_New(w.count);
  if (list == nullptr) return nullptr;
  for (Py_ssize_t i = 0; i < w.count; ++i) {
    PyObject* v = PyFloat_FromDouble(w.at(i));
    if (v == nullptr) {
      Py_DECREF(list);
      return nullptr;
    }
    PyList_SET_ITEM(list, i, v);
  }
  PyObject* maxlen = PyLong_FromSsize_t(w.capacity);
  PyObject* d = maxlen ? PyObject_CallFunctionObjArgs(g.deque_type, list, maxlen, nullptr) : nullptr;
  Py_XDECREF(maxlen);
  Py_DECREF(list);
  return d;
}

PyObject* get_scan_times(Self* self, void*) { return ready(self) ? window_deque(self->scan) : nullptr; }
PyObject* get_api_call_times(Self* self, void*) { return ready(self) ? window_deque(self->api) : nullptr; }
PyObject* get_memory_usage(Self* self, void*) { return ready(self) ? window_deque(self->memory) : nullptr; }
PyObject* get_window_size(Self* self, void*) { return PyLong_FromSsize_t(self->scan.capacity); }

PyObject* get_last_error_time(Self* self, void*) {
  if (self->last_error_time == 0.0) Py_RETURN_NONE;
  return local_datetime(self->last_error_time);
}

int set_last_error_time(Self* self, PyObject* v, void*) {
  if (v == nullptr || v == Py_None) {
    self->last_error_time = 0.0;
    return 0;
  }
  const double ts = timestamp_of(v);
  if (ts == -1.0 && PyErr_Occurred()) return -1;
  self->last_error_time = ts;
  return 0;
}

PyObject* get_count(long long* field) { return PyLong_FromLongLong(*field); }
int set_count(long long* field, PyObject* v) {
  if (v == nullptr) {
    PyErr_SetString(PyExc_AttributeError, "cannot delete a count");
    return -1;
  }
  const long long n = PyLong_AsLongLong(v);
  if (n == -1 && PyErr_Occurred()) return -1;
  *field = n;
  return 0;
}
PyObject* get_error_count(Self* self, void*) { return get_count(&self->error_count); }
int set_error_count(Self* self, PyObject* v, void*) { return set_count(&self->error_count, v); }
PyObject* get_warning_count(Self* self, void*) { return get_count(&self->warning_count); }
int set_warning_count(Self* self, PyObject* v, void*) { return set_count(&self->warning_count, v); }

PyObject* get_writer(Self* self, void*) {
  WriterObject* w = self->writer != nullptr ? self->writer : g_current;
  return Py_NewRef(w != nullptr ? reinterpret_cast<PyObject*>(w) : Py_None);
}

// (scan, api, memory) as lists, for get_metrics(): one call, one consistent view.
PyObject* windows(Self* self, PyObject*) {
  if (!ready(self)) return nullptr;
  PyObject* out = PyTuple_New(3);
  if (out == nullptr) return nullptr;
  const Window* ws[3] = {&self->scan, &self->api, &self->memory};
  for (int k = 0; k < 3; ++k) {
    PyObject* list = PyList_New(ws[k]->count);
    if (list == nullptr) {
      Py_DECREF(out);
      return nullptr;
    }
    for (Py_ssize_t i = 0; i < ws[k]->count; ++i) PyList_SET_ITEM(list, i, PyFloat_FromDouble(ws[k]->at(i)));
    PyTuple_SET_ITEM(out, k, list);
  }
  return out;
}

#define FAST(fn) reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(fn))

PyMethodDef kMethods[] = {
    {"record_scan_time", FAST(record_scan_time), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("record_scan_time(duration) -> None: a market scan took duration seconds.")},
    {"record_api_call", FAST(record_api_call), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("record_api_call(duration, endpoint=None) -> None: an API call took duration seconds (telering also "
               "keeps per-endpoint latency for the reader when endpoint is given).")},
    {"record_error", FAST(record_error), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("record_error() -> None: counts an error. Right after ErrorRecoveryManager.record_error() on the same "
               "thread it is that same error and the segment gets no second record; otherwise it records an "
               "'unspecified_error' (or error_type, with message).")},
    {"record_warning", FAST(record_warning), METH_FASTCALL | METH_KEYWORDS,
     PyDoc_STR("record_warning(warning_type=None, message=None) -> None: counts a warning.")},
    {"update_memory_usage", FAST(update_memory_usage), METH_NOARGS,
     PyDoc_STR("update_memory_usage() -> None: records this process's resident set size (MB in memory_usage).")},
    {"_windows", FAST(windows), METH_NOARGS, PyDoc_STR("_windows() -> (scan, api, memory): the windows as lists.")},
    {nullptr, nullptr, 0, nullptr},
};

PyGetSetDef kGetSet[] = {
    {"scan_times", reinterpret_cast<getter>(get_scan_times), nullptr,
     PyDoc_STR("The last window_size scan durations (a deque; a copy)."), nullptr},
    {"api_call_times", reinterpret_cast<getter>(get_api_call_times), nullptr,
     PyDoc_STR("The last window_size API call durations (a deque; a copy)."), nullptr},
    {"memory_usage", reinterpret_cast<getter>(get_memory_usage), nullptr,
     PyDoc_STR("The last window_size memory samples in MB (a deque; a copy)."), nullptr},
    {"window_size", reinterpret_cast<getter>(get_window_size), nullptr, PyDoc_STR("Values kept per window."), nullptr},
    {"error_count", reinterpret_cast<getter>(get_error_count), reinterpret_cast<setter>(set_error_count),
     PyDoc_STR("Errors counted by this monitor."), nullptr},
    {"warning_count", reinterpret_cast<getter>(get_warning_count), reinterpret_cast<setter>(set_warning_count),
     PyDoc_STR("Warnings counted by this monitor."), nullptr},
    {"last_error_time", reinterpret_cast<getter>(get_last_error_time), reinterpret_cast<setter>(set_last_error_time),
     PyDoc_STR("datetime (local) of this monitor's last error, or None."), nullptr},
    {"writer", reinterpret_cast<getter>(get_writer), nullptr,
     PyDoc_STR("The Writer this monitor records into (its own, or the process-wide one)."), nullptr},
    {nullptr, nullptr, nullptr, nullptr, nullptr},
};

PyTypeObject MonitorType = {PyVarObject_HEAD_INIT(nullptr, 0)};

}  // namespace

void note_manager_error_at(double wall) noexcept { t_error_recorded_at = wall; }

bool add_monitor_type(PyObject* module) {
  MonitorType.tp_name = "telering._native.PerformanceMonitor";
  MonitorType.tp_basicsize = sizeof(MonitorObject);
  MonitorType.tp_flags = Py_TPFLAGS_DEFAULT | Py_TPFLAGS_BASETYPE | Py_TPFLAGS_HAVE_GC;
  MonitorType.tp_doc = PyDoc_STR(
      "PerformanceMonitor(window_size=100, *, writer=None)\n\n"
      "The seed's PerformanceMonitor, recording half: every record goes to the segment (the reader's host "
      "view) and to this instance's own windows. Thread-safe: each call holds the GIL throughout.");
  MonitorType.tp_new = PyType_GenericNew;
  MonitorType.tp_init = reinterpret_cast<initproc>(monitor_init);
  MonitorType.tp_dealloc = reinterpret_cast<destructor>(monitor_dealloc);
  MonitorType.tp_traverse = reinterpret_cast<traverseproc>(monitor_traverse);
  MonitorType.tp_clear = reinterpret_cast<inquiry>(monitor_clear);
  MonitorType.tp_methods = kMethods;
  MonitorType.tp_getset = kGetSet;
  MonitorType.tp_weaklistoffset = offsetof(MonitorObject, weakrefs);
  return PyType_Ready(&MonitorType) == 0 &&
         PyModule_AddObjectRef(module, "PerformanceMonitor", reinterpret_cast<PyObject*>(&MonitorType)) == 0;
}

}  // namespace telering::python
