// native_log_handler.cpp — handler.handle(record) for the handler most bots log through:
// a logging.StreamHandler or FileHandler with a stock logging.Formatter in the default
// "%" style, carried out here instead of in logging's Python code.
//
// A written log line costs the seed about 8 µs, half of it inside the handler: Handler.handle,
// emit, Formatter.format, formatTime (time.localtime + time.strftime), the "%" format and the
// stream's write and flush. This file does the same steps in the same order with the same
// side effects — record.message, then record.asctime, set on the record; the handler's lock
// held around emit; the stream written once with msg + terminator, then flushed — so the
// line and the stream see exactly what logging would give them.
//
// It applies only when nothing of that machinery was customised: the handler's type is
// exactly StreamHandler or FileHandler (with its stream open), it has no filters, its
// formatter is exactly a logging.Formatter whose style is exactly PercentStyle without
// defaults, the record carries no exception or stack text, no instance overrides a method
// this path replaces, and no class on the path was changed since it was last checked (a
// type's version tag changes with any assignment to it or its bases). Otherwise, and for a
// datefmt or time format other than logging's default, logging does that part itself.
//
// Errors are logging's: a failure while formatting lets the handler's own emit() redo the
// line and report it (formatting has no side effect beyond the two attributes it sets
// again); a failure writing or flushing calls handler.handleError(record) with the error as
// the exception being handled, as emit's `except Exception` does. RecursionError propagates.
#include <cmath>
#include <cstdio>
#include <cstring>
#include <ctime>

#include "native.hpp"

namespace telering::python {
namespace {

// Methods this path replaces, per class: an assignment to one of them (on the class or on
// an instance) sends the call to logging's own code.
constexpr const char* kHandlerMethods[] = {"handle", "filter", "acquire", "release", "emit", "flush", "format"};
constexpr const char* kFormatterMethods[] = {"format", "formatTime", "formatMessage", "usesTime"};
constexpr const char* kStyleMethods[] = {"format", "_format", "usesTime", "asctime_search"};
constexpr const char* kRecordMethods[] = {"getMessage"};

struct StockClass {
  PyTypeObject* type = nullptr;
  unsigned int checked_tag = 0;  // tp_version_tag when its methods were last found unchanged
  PyObject* originals[8] = {};   // the methods as they were at import
};

struct HandlerCache {
  StockClass stream_handler;
  StockClass file_handler;
  StockClass formatter;
  StockClass percent_style;
  StockClass log_record;
  PyObject* logging_dict = nullptr;  // borrowed from the module, which stays imported
  PyObject* localtime = nullptr;     // time.localtime
  PyObject* gmtime = nullptr;        // time.gmtime
  PyObject* default_time_format = nullptr;  // "%Y-%m-%d %H:%M:%S"
  PyObject* default_msec_format = nullptr;  // "%s,%03d"
  PyObject* handler_names[std::size(kHandlerMethods)] = {};
  PyObject* formatter_names[std::size(kFormatterMethods)] = {};
  PyObject* style_names[std::size(kStyleMethods)] = {};
  PyObject* record_names[std::size(kRecordMethods)] = {};
  PyObject *s_filters, *s_lock, *s_stream, *s_formatter, *s_default_formatter, *s_style, *s_fmt, *s_defaults,
      *s_terminator, *s_datefmt, *s_converter, *s_default_time_format, *s_default_msec_format, *s_acquire,
      *s_release, *s_write, *s_flush, *s_emit, *s_handle_error, *s_format_time, *s_message, *s_asctime, *s_msg,
      *s_args, *s_exc_info, *s_exc_text, *s_stack_info, *s_created, *s_msecs, *s_asctime_search;
  bool ready = false;
};
HandlerCache h;
unsigned long long g_lines = 0;  // guarded by the GIL

PyObject* intern(const char* s) { return PyUnicode_InternFromString(s); }

template <std::size_t N>
bool capture(StockClass& cls, PyObject* module, const char* type_name, PyObject* const (&names)[N]) {
  PyObject* type = PyObject_GetAttrString(module, type_name);
  if (type == nullptr || !PyType_Check(type)) {
    Py_XDECREF(type);
    return false;
  }
  cls.type = reinterpret_cast<PyTypeObject*>(type);
  for (std::size_t i = 0; i < N; ++i)
    if ((cls.originals[i] = PyObject_GetAttr(type, names[i])) == nullptr) return false;
  return true;
}

// The class's methods are the ones captured at import. Cheap after the first check: the
// version tag changes whenever the class or a base is assigned to.
template <std::size_t N>
bool unchanged(StockClass& cls, PyObject* const (&names)[N]) {
  const unsigned int tag = cls.type->tp_version_tag;
  if (tag != 0 && tag == cls.checked_tag) return true;
  for (std::size_t i = 0; i < N; ++i) {
    PyObject* now = PyObject_GetAttr(reinterpret_cast<PyObject*>(cls.type), names[i]);
    Py_XDECREF(now);
    if (now != cls.originals[i]) {
      PyErr_Clear();
      return false;
    }
  }
  cls.checked_tag = cls.type->tp_version_tag;  // the lookups above assigned one if it had none
  return true;
}

// No instance attribute shadows one of the class's methods.
template <std::size_t N>
bool no_instance_override(PyObject* object, PyObject* const (&names)[N]) {
  PyObject* dict = PyObject_GenericGetDict(object, nullptr);
  if (dict == nullptr) return false;
  bool clean = true;
  for (PyObject* name : names) clean = clean && PyDict_GetItemWithError(dict, name) == nullptr && !PyErr_Occurred();
  Py_DECREF(dict);
  return clean;
}

bool init() {
  PyObject* logging = PyImport_ImportModule("logging");
  PyObject* time = logging ? PyImport_ImportModule("time") : nullptr;
  if (time == nullptr) return false;
  h.logging_dict = PyModule_GetDict(logging);
  h.localtime = PyObject_GetAttrString(time, "localtime");
  h.gmtime = PyObject_GetAttrString(time, "gmtime");
  Py_DECREF(time);
  for (std::size_t i = 0; i < std::size(kHandlerMethods); ++i) h.handler_names[i] = intern(kHandlerMethods[i]);
  for (std::size_t i = 0; i < std::size(kFormatterMethods); ++i) h.formatter_names[i] = intern(kFormatterMethods[i]);
  for (std::size_t i = 0; i < std::size(kStyleMethods); ++i) h.style_names[i] = intern(kStyleMethods[i]);
  for (std::size_t i = 0; i < std::size(kRecordMethods); ++i) h.record_names[i] = intern(kRecordMethods[i]);
  h.default_time_format = intern("%Y-%m-%d %H:%M:%S");
  h.default_msec_format = intern("%s,%03d");
  h.s_filters = intern("filters");
  h.s_lock = intern("lock");
  h.s_stream = intern("stream");
  h.s_formatter = intern("formatter");
  h.s_default_formatter = intern("_defaultFormatter");
  h.s_style = intern("_style");
  h.s_fmt = intern("_fmt");
  h.s_defaults = intern("_defaults");
  h.s_terminator = intern("terminator");
  h.s_datefmt = intern("datefmt");
  h.s_converter = intern("converter");
  h.s_default_time_format = intern("default_time_format");
  h.s_default_msec_format = intern("default_msec_format");
  h.s_acquire = intern("acquire");
  h.s_release = intern("release");
  h.s_write = intern("write");
  h.s_flush = intern("flush");
  h.s_emit = intern("emit");
  h.s_handle_error = intern("handleError");
  h.s_format_time = intern("formatTime");
  h.s_message = intern("message");
  h.s_asctime = intern("asctime");
  h.s_msg = intern("msg");
  h.s_args = intern("args");
  h.s_exc_info = intern("exc_info");
  h.s_exc_text = intern("exc_text");
  h.s_stack_info = intern("stack_info");
  h.s_created = intern("created");
  h.s_msecs = intern("msecs");
  h.s_asctime_search = intern("%(asctime)");
  const bool ok = !PyErr_Occurred() && h.localtime && h.gmtime &&
                  capture(h.stream_handler, logging, "StreamHandler", h.handler_names) &&
                  capture(h.file_handler, logging, "FileHandler", h.handler_names) &&
                  capture(h.formatter, logging, "Formatter", h.formatter_names) &&
                  capture(h.percent_style, logging, "PercentStyle", h.style_names) &&
                  capture(h.log_record, logging, "LogRecord", h.record_names);
  Py_DECREF(logging);
  if (!ok) return false;
  h.ready = true;
  return true;
}

// Owned references to what one handler.handle(record) reads, released together.
struct Refs {
  PyObject* items[16] = {};
  int n = 0;
  PyObject* keep(PyObject* o) {
    if (o != nullptr) items[n++] = o;
    return o;
  }
  ~Refs() {
    for (int i = 0; i < n; ++i) Py_DECREF(items[i]);
  }
};

bool exact_str(PyObject* o) { return o != nullptr && PyUnicode_CheckExact(o); }

// Formatter.formatTime(record, None) with logging's default formats and converter
// time.localtime or time.gmtime: time.strftime("%Y-%m-%d %H:%M:%S", converter(created)),
// then "%s,%03d" % (s, record.msecs). nullptr with no exception when it is not that case.
PyObject* default_asctime(PyObject* time_format, PyObject* msec_format, bool local, PyObject* created, PyObject* msecs) {
  if (time_format != h.default_time_format && PyUnicode_Compare(time_format, h.default_time_format) != 0) return nullptr;
  if (!PyFloat_CheckExact(created)) return nullptr;
  const bool msec_default = msec_format != Py_None && PyUnicode_CheckExact(msec_format) &&
                            PyUnicode_Compare(msec_format, h.default_msec_format) == 0;
  if (msec_format != Py_None && !(msec_default && PyFloat_CheckExact(msecs))) return nullptr;
  const double t = std::floor(PyFloat_AS_DOUBLE(created));  // time.localtime rounds a float down
  if (!(t > -1e15 && t < 1e15)) return nullptr;
  const std::time_t seconds = static_cast<std::time_t>(t);
  std::tm tm{};
  if ((local ? localtime_r(&seconds, &tm) : gmtime_r(&seconds, &tm)) == nullptr) return nullptr;
  char text[96];
  std::size_t n = std::strftime(text, sizeof text, "%Y-%m-%d %H:%M:%S", &tm);
  if (n == 0) return nullptr;
  if (msec_default) {  // "%03d" % msecs formats int(msecs)
    const double ms = PyFloat_AS_DOUBLE(msecs);
    if (!(ms > -1e9 && ms < 1e9)) return nullptr;
    const int m = std::snprintf(text + n, sizeof text - n, ",%03lld", static_cast<long long>(ms));
    if (m <= 0 || static_cast<std::size_t>(m) >= sizeof text - n) return nullptr;
    n += static_cast<std::size_t>(m);
  }
  return PyUnicode_DecodeASCII(text, static_cast<Py_ssize_t>(n), nullptr);
}

// Formatter.format(record) for the stock Formatter: sets record.message and (when the
// format uses it) record.asctime, returns the line. nullptr with an exception on failure.
PyObject* format_line(PyObject* formatter, PyObject* fmt, PyObject* dict) {
  Refs r;
  // record.getMessage(): str(msg), then msg % args when args (checked empty by the caller).
  PyObject* msg = PyDict_GetItemWithError(dict, h.s_msg);
  PyObject* message = msg ? r.keep(PyObject_Str(msg)) : nullptr;
  if (message == nullptr) {
    if (!PyErr_Occurred()) PyErr_SetString(PyExc_AttributeError, "'LogRecord' object has no attribute 'msg'");
    return nullptr;
  }
  if (PyDict_SetItem(dict, h.s_message, message) < 0) return nullptr;
  const Py_ssize_t uses_time = PyUnicode_Find(fmt, h.s_asctime_search, 0, PY_SSIZE_T_MAX, 1);
  if (uses_time == -2) return nullptr;
  if (uses_time >= 0) {
    PyObject* datefmt = r.keep(PyObject_GetAttr(formatter, h.s_datefmt));
    PyObject* converter = datefmt ? r.keep(PyObject_GetAttr(formatter, h.s_converter)) : nullptr;
    PyObject* time_format = converter ? r.keep(PyObject_GetAttr(formatter, h.s_default_time_format)) : nullptr;
    PyObject* msec_format = time_format ? r.keep(PyObject_GetAttr(formatter, h.s_default_msec_format)) : nullptr;
    if (msec_format == nullptr) return nullptr;
    const int has_datefmt = PyObject_IsTrue(datefmt);
    if (has_datefmt < 0) return nullptr;
    PyObject* asctime = nullptr;
    if (has_datefmt == 0 && (converter == h.localtime || converter == h.gmtime) && exact_str(time_format)) {
      PyObject* created = PyDict_GetItemWithError(dict, h.s_created);
      PyObject* msecs = created ? PyDict_GetItemWithError(dict, h.s_msecs) : nullptr;
      if (msecs != nullptr) asctime = default_asctime(time_format, msec_format, converter == h.localtime, created, msecs);
      if (PyErr_Occurred()) return nullptr;
    }
    if (asctime == nullptr) return nullptr;  // another time format: the caller lets logging format
    r.keep(asctime);
    if (PyDict_SetItem(dict, h.s_asctime, asctime) < 0) return nullptr;
  }
  return PyUnicode_Format(fmt, dict);  // PercentStyle._format: self._fmt % record.__dict__
}

// handleError(record) with the current error as the exception being handled, as emit's
// `except Exception: self.handleError(record)` calls it. RecursionError is raised on.
bool report_emit_error(PyObject* handler, PyObject* record) {
  if (PyErr_ExceptionMatches(PyExc_RecursionError)) return false;
  PyFrameObject* frame = PyEval_GetFrame();
  if (frame != nullptr) PyTraceBack_Here(frame);  // handleError walks tb.tb_frame up to the caller
  PyObject *type, *value, *tb;
  PyErr_Fetch(&type, &value, &tb);
  PyErr_NormalizeException(&type, &value, &tb);
  if (tb != nullptr && value != nullptr) PyException_SetTraceback(value, tb);
  PyObject *old_type, *old_value, *old_tb;
  PyErr_GetExcInfo(&old_type, &old_value, &old_tb);
  PyErr_SetExcInfo(type, value, tb);  // steals
  PyObject* r = PyObject_CallMethodOneArg(handler, h.s_handle_error, record);
  PyErr_SetExcInfo(old_type, old_value, old_tb);  // steals
  Py_XDECREF(r);
  return r != nullptr;
}

}  // namespace

bool init_stock_handler() { return init(); }

PyObject* stock_handler_lines(PyObject*, PyObject*) { return PyLong_FromUnsignedLongLong(g_lines); }

int handle_stock(PyObject* handler, PyObject* record) {
  if (!h.ready) return 0;
  const bool file = Py_TYPE(handler) == h.file_handler.type;
  if (!file && Py_TYPE(handler) != h.stream_handler.type) return 0;
  Refs r;
  // The handler: no filters (Filterer.filter is then True), stock methods.
  PyObject* filters = r.keep(PyObject_GetAttr(handler, h.s_filters));
  if (filters == nullptr) return -1;
  if (!PyList_CheckExact(filters) || PyList_GET_SIZE(filters) != 0) return 0;
  if (!unchanged(file ? h.file_handler : h.stream_handler, h.handler_names) ||
      !no_instance_override(handler, h.handler_names))
    return PyErr_Occurred() ? -1 : 0;
  // Handler.format: self.formatter, or logging._defaultFormatter when it is falsy.
  PyObject* formatter = r.keep(PyObject_GetAttr(handler, h.s_formatter));
  if (formatter == nullptr) return -1;
  const int has_formatter = PyObject_IsTrue(formatter);
  if (has_formatter < 0) return -1;
  if (has_formatter == 0) {
    formatter = PyDict_GetItemWithError(h.logging_dict, h.s_default_formatter);
    if (formatter == nullptr) return PyErr_Occurred() ? -1 : 0;
    r.keep(Py_NewRef(formatter));
  }
  if (Py_TYPE(formatter) != h.formatter.type || !unchanged(h.formatter, h.formatter_names) ||
      !no_instance_override(formatter, h.formatter_names))
    return PyErr_Occurred() ? -1 : 0;
  PyObject* style = r.keep(PyObject_GetAttr(formatter, h.s_style));
  if (style == nullptr) return -1;
  if (Py_TYPE(style) != h.percent_style.type || !unchanged(h.percent_style, h.style_names) ||
      !no_instance_override(style, h.style_names))
    return PyErr_Occurred() ? -1 : 0;
  PyObject* fmt = r.keep(PyObject_GetAttr(style, h.s_fmt));
  PyObject* defaults = fmt ? r.keep(PyObject_GetAttr(style, h.s_defaults)) : nullptr;
  PyObject* terminator = defaults ? r.keep(PyObject_GetAttr(handler, h.s_terminator)) : nullptr;
  if (terminator == nullptr) return -1;
  if (!exact_str(fmt) || defaults != Py_None || !exact_str(terminator)) return 0;
  // The record: the one native_log.cpp built, possibly touched by earlier handlers. Only
  // a plain message with no args, exception or stack text takes this path.
  if (Py_TYPE(record) != h.log_record.type || !unchanged(h.log_record, h.record_names) ||
      !no_instance_override(record, h.record_names))
    return PyErr_Occurred() ? -1 : 0;
  PyObject* dict = r.keep(PyObject_GenericGetDict(record, nullptr));
  if (dict == nullptr) return -1;
  for (PyObject* key : {h.s_args, h.s_exc_info, h.s_exc_text, h.s_stack_info}) {
    PyObject* v = PyDict_GetItemWithError(dict, key);
    if (v == nullptr) return PyErr_Occurred() ? -1 : 0;
    const int set = PyObject_IsTrue(v);
    if (set != 0) return set < 0 ? -1 : 0;
  }

  // Handler.handle: acquire (when self.lock), emit, release.
  PyObject* lock = r.keep(PyObject_GetAttr(handler, h.s_lock));
  if (lock == nullptr) return -1;
  const int locked = lock == Py_None ? 0 : PyObject_IsTrue(lock);
  if (locked < 0) return -1;
  if (locked) {
    PyObject* got = PyObject_CallMethodNoArgs(lock, h.s_acquire);
    if (got == nullptr) return -1;
    Py_DECREF(got);
  }
  int result = 1;
  PyObject* stream = PyObject_GetAttr(handler, h.s_stream);
  int open = stream == nullptr ? -1 : PyObject_IsTrue(stream);
  if (open < 0) {
    result = -1;
  } else if (file && stream == Py_None) {
    result = 0;  // FileHandler.emit opens the stream first: logging does it
  } else if (open == 1 || !file) {  // FileHandler writes only `if self.stream`; StreamHandler always tries
    PyObject* line = format_line(formatter, fmt, dict);
    if (line == nullptr) {
      if (PyErr_Occurred() && PyErr_ExceptionMatches(PyExc_RecursionError)) {
        result = -1;
      } else {
        // A time format only logging's formatTime produces, or a failure that emit()
        // meets again and reports as logging does: the handler's own emit does the line.
        PyErr_Clear();
        PyObject* done = PyObject_CallMethodOneArg(handler, h.s_emit, record);
        result = done ? 1 : -1;
        Py_XDECREF(done);
      }
    } else {
      // stream.write(msg + self.terminator); self.flush() (the lock is already held:
      // flush's own acquire/release of the RLock changes nothing).
      PyObject* out = PyUnicode_Concat(line, terminator);
      Py_DECREF(line);
      PyObject* wrote = out ? PyObject_CallMethodOneArg(stream, h.s_write, out) : nullptr;
      Py_XDECREF(out);
      bool ok = wrote != nullptr;
      Py_XDECREF(wrote);
      if (ok) {
        const int still_open = PyObject_IsTrue(stream);
        PyObject* flush = still_open == 1 ? PyObject_GetAttr(stream, h.s_flush) : nullptr;
        if (still_open < 0) {
          ok = false;
        } else if (still_open == 1 && flush == nullptr) {  // hasattr: only AttributeError means "no"
          if (PyErr_ExceptionMatches(PyExc_AttributeError)) PyErr_Clear();
          else ok = false;
        } else if (flush != nullptr) {
          PyObject* flushed = PyObject_CallNoArgs(flush);
          Py_DECREF(flush);
          ok = flushed != nullptr;
          Py_XDECREF(flushed);
        }
      }
      if (ok) ++g_lines;
      else if (!report_emit_error(handler, record)) result = -1;
    }
  }
  Py_XDECREF(stream);
  if (locked) {
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);  // release even when emit failed, then raise its error
    PyObject* released = PyObject_CallMethodNoArgs(lock, h.s_release);
    if (released == nullptr) {
      Py_XDECREF(type), Py_XDECREF(value), Py_XDECREF(tb);
      return -1;
    }
    Py_DECREF(released);
    PyErr_Restore(type, value, tb);
  }
  return result;
}

}  // namespace telering::python
