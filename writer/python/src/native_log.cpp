// native_log.cpp — the seed's log line, emitted with the LogRecord logging itself would
// build, without logging's Python-level record construction.
//
// `logger.warning(line)` spends most of its time before any handler runs: Logger._log,
// findCaller walking frames, and LogRecord.__init__ (about 2.5 µs of the 4 µs a handler with
// a timestamp then needs). For a plain logging.Logger (or RootLogger) with the stock record
// factory, this file builds the same record — the same attributes with the same values, in
// the same order, computed as CPython 3.8-3.11's LogRecord.__init__ computes them — and
// passes it to logger.handle(), which applies the logger's filters and calls its handlers
// exactly as _log would. The caller information is the calling Python frame, which is what
// findCaller finds for a call made from C. Anything else (a Logger subclass, a custom
// factory, logging._srcfile changed, Python 3.12's taskName) takes the ordinary call.
#include <cmath>
#include <cstring>
#include <unistd.h>

#include "native.hpp"
#include "telering/process_info.hpp"

namespace telering::python {
namespace {

struct LogCache {
  PyObject* logging = nullptr;        // the logging module
  PyObject* logging_dict = nullptr;   // its __dict__ (borrowed from the module, which we hold)
  PyObject* logger_type = nullptr;    // logging.Logger
  PyObject* root_type = nullptr;      // logging.RootLogger
  PyObject* record_type = nullptr;    // logging.LogRecord
  PyObject* threading_active = nullptr;  // threading._active: ident -> Thread
  PyObject* current_thread = nullptr;    // threading.current_thread
  PyObject* empty_tuple = nullptr;
  PyObject* unknown_file = nullptr;      // "(unknown file)"
  PyObject* unknown_function = nullptr;  // "(unknown function)"
  PyObject* main_process = nullptr;      // "MainProcess"
  double start_time = 0.0;               // logging._startTime
  PyObject* k[22] = {};                  // attribute names, in LogRecord.__init__'s order
  PyObject* s_record_factory = nullptr;
  PyObject* s_level_to_name = nullptr;
  PyObject* s_srcfile = nullptr;
  PyObject* s_log_threads = nullptr;
  PyObject* s_log_mp = nullptr;
  PyObject* s_log_processes = nullptr;
  PyObject* s_name = nullptr;
  PyObject* s_handle = nullptr;
  PyObject* s_mp = nullptr;
  PyObject* s_current_process = nullptr;
  PyObject* s_mp_process = nullptr;            // "multiprocessing.process"
  PyObject* s_current_process_global = nullptr;  // "_current_process"
  PyObject* s_private_name = nullptr;          // "_name"
  PyObject* s_filters = nullptr;
  PyObject* s_disabled = nullptr;
  PyObject* s_handlers = nullptr;
  PyObject* s_level = nullptr;
  PyObject* s_propagate = nullptr;
  PyObject* s_parent = nullptr;
  PyObject* s_call_handlers = nullptr;
  PyObject* filenames = nullptr;         // pathname -> (filename, module)
  bool ready = false;
};
LogCache c;

enum Key { kName, kMsg, kArgs, kLevelname, kLevelno, kPathname, kFilename, kModule, kExcInfo, kExcText, kStackInfo,
           kLineno, kFuncName, kCreated, kMsecs, kRelativeCreated, kThread, kThreadName, kProcessName, kProcess,
           kKeys };

bool init_cache() {
  static const char* const kNames[kKeys] = {"name", "msg", "args", "levelname", "levelno", "pathname", "filename",
                                            "module", "exc_info", "exc_text", "stack_info", "lineno", "funcName",
                                            "created", "msecs", "relativeCreated", "thread", "threadName",
                                            "processName", "process"};
  c.logging = PyImport_ImportModule("logging");
  PyObject* threading = c.logging ? PyImport_ImportModule("threading") : nullptr;
  if (threading == nullptr) return false;
  c.logging_dict = PyModule_GetDict(c.logging);
  c.logger_type = PyObject_GetAttrString(c.logging, "Logger");
  c.root_type = PyObject_GetAttrString(c.logging, "RootLogger");
  c.record_type = PyObject_GetAttrString(c.logging, "LogRecord");
  PyObject* start = PyObject_GetAttrString(c.logging, "_startTime");
  c.start_time = start ? PyFloat_AsDouble(start) : 0.0;
  Py_XDECREF(start);
  c.threading_active = PyObject_GetAttrString(threading, "_active");
  c.current_thread = PyObject_GetAttrString(threading, "current_thread");
  Py_DECREF(threading);
  c.empty_tuple = PyTuple_New(0);
  c.unknown_file = PyUnicode_InternFromString("(unknown file)");
  c.unknown_function = PyUnicode_InternFromString("(unknown function)");
  c.main_process = PyUnicode_InternFromString("MainProcess");
  for (int i = 0; i < kKeys; ++i) c.k[i] = PyUnicode_InternFromString(kNames[i]);
  c.s_record_factory = PyUnicode_InternFromString("_logRecordFactory");
  c.s_level_to_name = PyUnicode_InternFromString("_levelToName");
  c.s_srcfile = PyUnicode_InternFromString("_srcfile");
  c.s_log_threads = PyUnicode_InternFromString("logThreads");
  c.s_log_mp = PyUnicode_InternFromString("logMultiprocessing");
  c.s_log_processes = PyUnicode_InternFromString("logProcesses");
  c.s_name = PyUnicode_InternFromString("name");
  c.s_handle = PyUnicode_InternFromString("handle");
  c.s_mp = PyUnicode_InternFromString("multiprocessing");
  c.s_current_process = PyUnicode_InternFromString("current_process");
  c.s_mp_process = PyUnicode_InternFromString("multiprocessing.process");
  c.s_current_process_global = PyUnicode_InternFromString("_current_process");
  c.s_private_name = PyUnicode_InternFromString("_name");
  c.s_filters = PyUnicode_InternFromString("filters");
  c.s_disabled = PyUnicode_InternFromString("disabled");
  c.s_handlers = PyUnicode_InternFromString("handlers");
  c.s_level = PyUnicode_InternFromString("level");
  c.s_propagate = PyUnicode_InternFromString("propagate");
  c.s_parent = PyUnicode_InternFromString("parent");
  c.s_call_handlers = PyUnicode_InternFromString("callHandlers");
  c.filenames = PyDict_New();
  if (PyErr_Occurred() || !c.logger_type || !c.root_type || !c.record_type || !c.threading_active ||
      !c.current_thread || !c.filenames)
    return false;
  c.ready = true;
  return true;
}

// logging's own module globals, read per call: a bot may change them at any time.
PyObject* logging_global(PyObject* key) { return PyDict_GetItemWithError(c.logging_dict, key); }

// os.path.basename and os.path.splitext(basename)[0] of a POSIX path, cached per path.
bool file_and_module(PyObject* pathname, PyObject** filename, PyObject** module) {
  PyObject* cached = PyDict_GetItemWithError(c.filenames, pathname);
  if (cached != nullptr) {
    *filename = PyTuple_GET_ITEM(cached, 0);
    *module = PyTuple_GET_ITEM(cached, 1);
    return true;
  }
  if (PyErr_Occurred()) return false;
  std::string_view path;
  if (!utf8_of(pathname, path)) return false;
  const std::size_t slash = path.rfind('/');
  const std::string_view base = slash == std::string_view::npos ? path : path.substr(slash + 1);
  // posixpath.splitext: the extension starts at the last dot, unless only dots precede it.
  std::string_view root = base;
  const std::size_t dot = base.rfind('.');
  if (dot != std::string_view::npos && base.find_first_not_of('.') < dot) root = base.substr(0, dot);
  PyObject* entry = Py_BuildValue("(s#s#)", base.data(), static_cast<Py_ssize_t>(base.size()), root.data(),
                                  static_cast<Py_ssize_t>(root.size()));
  if (entry == nullptr || PyDict_SetItem(c.filenames, pathname, entry) < 0) {
    Py_XDECREF(entry);
    return false;
  }
  Py_DECREF(entry);  // the cache holds it
  *filename = PyTuple_GET_ITEM(entry, 0);
  *module = PyTuple_GET_ITEM(entry, 1);
  return true;
}

// frame.f_lineno, cached per (code object, instruction): the bytecode-to-line walk is the
// largest single cost of a record (findCaller pays it too). Holds its code objects.
int line_number(PyFrameObject* frame, PyCodeObject* code) {
  struct Entry {
    PyCodeObject* code;
    int lasti;
    int line;
  };
  static Entry cache[64] = {};
  const int lasti = PyFrame_GetLasti(frame);
  Entry& e = cache[(reinterpret_cast<std::uintptr_t>(code) >> 4 ^ static_cast<unsigned>(lasti)) & 63];
  if (e.code == code && e.lasti == lasti) return e.line;
  const int line = PyFrame_GetLineNumber(frame);
  Py_INCREF(code);
  Py_XSETREF(e.code, code);
  e.lasti = lasti;
  e.line = line;
  return line;
}

// threading.current_thread().name, from threading._active as current_thread() reads it.
PyObject* thread_name(unsigned long ident) {
  PyObject* key = PyLong_FromUnsignedLong(ident);
  if (key == nullptr) return nullptr;
  PyObject* thread = PyDict_GetItemWithError(c.threading_active, key);
  Py_DECREF(key);
  if (thread != nullptr) return PyObject_GetAttr(thread, c.s_private_name);  // Thread.name returns _name
  if (PyErr_Occurred()) return nullptr;
  PyObject* t = PyObject_CallNoArgs(c.current_thread);  // a thread threading did not start
  if (t == nullptr) return nullptr;
  PyObject* name = PyObject_GetAttr(t, c.s_name);
  Py_DECREF(t);
  return name;
}

// multiprocessing.current_process().name when multiprocessing is imported, else
// 'MainProcess': current_process() returns multiprocessing.process._current_process, and
// its name property returns _name.
PyObject* process_name() {
  PyObject* modules = PyImport_GetModuleDict();
  PyObject* mp = PyDict_GetItemWithError(modules, c.s_mp);
  if (mp == nullptr) return PyErr_Occurred() ? nullptr : Py_NewRef(c.main_process);
  PyObject* mp_process = PyDict_GetItemWithError(modules, c.s_mp_process);
  PyObject* process = mp_process ? PyObject_GetAttr(mp_process, c.s_current_process_global) : nullptr;
  PyObject* name = process ? PyObject_GetAttr(process, c.s_private_name) : nullptr;
  Py_XDECREF(process);
  if (name == nullptr) {  // LogRecord.__init__ keeps 'MainProcess' when this fails
    PyErr_Clear();
    return Py_NewRef(c.main_process);
  }
  return name;
}

bool is_true_global(PyObject* key) {
  PyObject* v = logging_global(key);
  return v != nullptr && PyObject_IsTrue(v) == 1;
}

// The LogRecord logger.<level>(line) would make, or nullptr (no exception) when this
// logger or logging's configuration needs the ordinary path.
PyObject* make_record(PyObject* logger, PyObject* level, PyObject* line, double ct) {
#if PY_VERSION_HEX >= 0x030C0000
  (void)logger, (void)level, (void)line, (void)ct;
  return nullptr;  // 3.12 added taskName: let logging build its own records
#else
  if (!c.ready) return nullptr;
  PyObject* type = reinterpret_cast<PyObject*>(Py_TYPE(logger));
  if (type != c.logger_type && type != c.root_type) return nullptr;
  if (logging_global(c.s_record_factory) != c.record_type) return nullptr;
  PyObject* srcfile = logging_global(c.s_srcfile);
  if (srcfile == nullptr) return nullptr;

  PyObject* pathname = c.unknown_file;
  PyObject* func = c.unknown_function;
  int lineno = 0;
  PyFrameObject* frame = srcfile != Py_None ? PyEval_GetFrame() : nullptr;  // borrowed
  PyCodeObject* code = frame ? PyFrame_GetCode(frame) : nullptr;           // new reference
  if (code != nullptr) {
    pathname = code->co_filename;
    func = code->co_name;
    lineno = line_number(frame, code);
  }
  PyObject* filename = nullptr;
  PyObject* module = nullptr;
  if (!file_and_module(pathname, &filename, &module)) {
    Py_XDECREF(code);
    return nullptr;
  }
  Py_INCREF(module);

  PyObject* level_to_name = logging_global(c.s_level_to_name);
  PyObject* levelname = level_to_name && PyDict_Check(level_to_name) ? PyDict_GetItemWithError(level_to_name, level) : nullptr;
  PyObject* levelname_owned = levelname ? Py_NewRef(levelname) : (PyErr_Occurred() ? nullptr : PyUnicode_FromFormat("Level %S", level));

  const bool log_threads = is_true_global(c.s_log_threads);
  const bool log_mp = is_true_global(c.s_log_mp);
  const bool log_processes = is_true_global(c.s_log_processes);
  const unsigned long ident = PyThread_get_thread_ident();
  PyObject* values[kKeys] = {};
  values[kName] = PyObject_GetAttr(logger, c.s_name);
  values[kMsg] = Py_NewRef(line);
  values[kArgs] = Py_NewRef(c.empty_tuple);
  values[kLevelname] = levelname_owned;
  values[kLevelno] = Py_NewRef(level);
  values[kPathname] = Py_NewRef(pathname);
  values[kFilename] = Py_NewRef(filename);
  values[kModule] = module;
  values[kExcInfo] = Py_NewRef(Py_None);
  values[kExcText] = Py_NewRef(Py_None);
  values[kStackInfo] = Py_NewRef(Py_None);
  values[kLineno] = PyLong_FromLong(lineno);
  values[kFuncName] = Py_NewRef(func);
  values[kCreated] = PyFloat_FromDouble(ct);
  values[kMsecs] = PyFloat_FromDouble(static_cast<double>(static_cast<long long>((ct - std::trunc(ct)) * 1000)) + 0.0);
  values[kRelativeCreated] = PyFloat_FromDouble((ct - c.start_time) * 1000);
  values[kThread] = log_threads ? PyLong_FromUnsignedLong(ident) : Py_NewRef(Py_None);
  values[kThreadName] = log_threads ? thread_name(ident) : Py_NewRef(Py_None);
  values[kProcessName] = log_mp ? process_name() : Py_NewRef(Py_None);
  values[kProcess] = log_processes ? PyLong_FromLong(static_cast<long>(current_pid())) : Py_NewRef(Py_None);
  Py_XDECREF(code);

  PyObject* record = nullptr;
  bool ok = true;
  for (PyObject* v : values) ok = ok && v != nullptr;
  if (ok) {
    PyTypeObject* rt = reinterpret_cast<PyTypeObject*>(c.record_type);
    record = rt->tp_alloc(rt, 0);
    PyObject* dict = record ? _PyDict_NewPresized(kKeys) : nullptr;
    // The attributes LogRecord.__init__ sets, in its order.
    for (int i = 0; dict != nullptr && i < kKeys; ++i)
      if (PyDict_SetItem(dict, c.k[i], values[i]) < 0) Py_CLEAR(dict);
    if (dict == nullptr || PyObject_GenericSetDict(record, dict, nullptr) < 0) Py_CLEAR(record);
    Py_XDECREF(dict);
  }
  for (PyObject* v : values) Py_XDECREF(v);
  return record;
#endif
}

// Logger.handle(record) for a plain Logger: `if not disabled and filter(record):
// callHandlers(record)`. With no filters on the logger, the handler walk runs here — each
// logger up the propagate chain, each handler whose level the record reaches gets
// handler.handle(record) — exactly as callHandlers walks it (a stock StreamHandler or
// FileHandler handles it in native_log_handler.cpp); with filters, or when no
// handler exists (logging's lastResort and its one-time warning), logging does it itself.
bool handle_record(PyObject* logger, PyObject* level, PyObject* record) {
  PyObject* filters = PyObject_GetAttr(logger, c.s_filters);
  PyObject* disabled = filters ? PyObject_GetAttr(logger, c.s_disabled) : nullptr;
  const bool simple = filters && disabled && PyList_CheckExact(filters) && PyList_GET_SIZE(filters) == 0 &&
                      disabled == Py_False;
  Py_XDECREF(filters);
  Py_XDECREF(disabled);
  if (PyErr_Occurred()) return false;
  if (!simple) {
    PyObject* r = PyObject_CallMethodOneArg(logger, c.s_handle, record);
    Py_XDECREF(r);
    return r != nullptr;
  }
  const long levelno = PyLong_AsLong(level);
  long found = 0;
  PyObject* current = Py_NewRef(logger);
  while (current != nullptr && current != Py_None) {
    PyObject* handlers = PyObject_GetAttr(current, c.s_handlers);
    if (handlers == nullptr || !PyList_Check(handlers)) {
      Py_XDECREF(handlers);
      Py_DECREF(current);
      return !PyErr_Occurred() ? (PyErr_SetString(PyExc_TypeError, "logger.handlers is not a list"), false) : false;
    }
    // Indexes the live list as `for hdlr in c.handlers` does (a handler added or removed
    // during the walk is seen as Python's list iterator would see it).
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(handlers); ++i) {
      PyObject* handler = Py_NewRef(PyList_GET_ITEM(handlers, i));
      ++found;
      PyObject* hl = PyObject_GetAttr(handler, c.s_level);
      const long handler_level = hl ? PyLong_AsLong(hl) : -1;
      Py_XDECREF(hl);
      PyObject* r = nullptr;
      if (!PyErr_Occurred() && levelno >= handler_level) {
        const int stock = handle_stock(handler, record);
        r = stock == 1 ? Py_NewRef(Py_None) : stock == 0 ? PyObject_CallMethodOneArg(handler, c.s_handle, record) : nullptr;
      } else if (!PyErr_Occurred()) {
        r = Py_NewRef(Py_None);
      }
      Py_DECREF(handler);
      if (r == nullptr) {
        Py_DECREF(handlers);
        Py_DECREF(current);
        return false;
      }
      Py_DECREF(r);
    }
    Py_DECREF(handlers);
    PyObject* propagate = PyObject_GetAttr(current, c.s_propagate);
    const int go_on = propagate ? PyObject_IsTrue(propagate) : -1;
    Py_XDECREF(propagate);
    PyObject* next = go_on == 1 ? PyObject_GetAttr(current, c.s_parent) : nullptr;
    Py_DECREF(current);
    if (go_on < 0 || (go_on == 1 && next == nullptr)) return false;
    current = next;
  }
  Py_XDECREF(current);
  if (found == 0) {  // lastResort, or logging's "no handlers could be found" warning
    PyObject* r = PyObject_CallMethodOneArg(logger, c.s_call_handlers, record);
    Py_XDECREF(r);
    return r != nullptr;
  }
  return true;
}

}  // namespace

bool init_log_fast_path() { return init_cache() && init_stock_handler(); }

bool emit_log_line(PyObject* logger, PyObject* level, PyObject* method, PyObject* line, double created) {
  PyObject* record = make_record(logger, level, line, created);
  if (record == nullptr) {
    if (PyErr_Occurred()) return false;
    PyObject* r = PyObject_CallMethodOneArg(logger, method, line);
    Py_XDECREF(r);
    return r != nullptr;
  }
  const bool ok = handle_record(logger, level, record);
  Py_DECREF(record);
  return ok;
}

}  // namespace telering::python
