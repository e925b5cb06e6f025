// native_inspect.cpp — telering._native.inspect_segment(): what `python -m telering` prints,
// read from a segment mapped read-only (nothing is created, claimed or written).
#include <string>

#include "native.hpp"
#include "telering/clock.hpp"
#include "telering/segment.hpp"

namespace telering::python {
namespace {

PyObject* inspect_segment(PyObject*, PyObject* args, PyObject* kwargs) {
  static const char* kNames[] = {"segment", "trust_other_owner", nullptr};
  const char* name = nullptr;
  int trust = 0;
  if (!PyArg_ParseTupleAndKeywords(args, kwargs, "s|$p:inspect_segment", const_cast<char**>(kNames), &name, &trust))
    return nullptr;
  SegmentOptions o;
  o.name = name;
  o.create = false;
  o.read_only = true;
  o.prefault = false;
  o.trust_other_owner = trust != 0;
  try {
    Segment s = Segment::open(o);
    const SegmentHeader& h = s.header();
    const SegmentGeometry& geo = s.geometry();
    const std::uint64_t beat = h.reader_heartbeat_ns.load(std::memory_order_acquire);
    const std::uint64_t now = monotonic_ns();
    const double age = beat == 0 ? -1.0 : (now > beat ? static_cast<double>(now - beat) / 1e9 : 0.0);
    PyObject* lanes = PyList_New(0);
    if (lanes == nullptr) return nullptr;
    for (std::uint32_t i = 0; i < geo.lane_count; ++i) {
      const LaneControl& lane = s.lane(i);
      const std::uint64_t owner = lane.owner.load(std::memory_order_acquire);
      const std::uint64_t tail = lane.tail.load(std::memory_order_acquire);
      const std::uint64_t dropped = lane.dropped.load(std::memory_order_relaxed);
      if (owner == 0 && tail == 0 && dropped == 0) continue;
      PyObject* entry = Py_BuildValue("{s:I,s:I,s:I,s:K,s:K,s:K}", "lane", i, "pid", owner_pid(owner), "tid",
                                      owner_tid(owner), "records", static_cast<unsigned long long>(tail), "consumed",
                                      static_cast<unsigned long long>(lane.head.load(std::memory_order_acquire)),
                                      "dropped", static_cast<unsigned long long>(dropped));
      if (entry == nullptr || PyList_Append(lanes, entry) < 0) {
        Py_XDECREF(entry);
        Py_DECREF(lanes);
        return nullptr;
      }
      Py_DECREF(entry);
    }
    return Py_BuildValue(
        "{s:s,s:n,s:{s:I,s:I,s:I,s:I},s:{s:I,s:d,s:O},s:{s:K,s:K,s:K,s:K},s:N}", "segment", name, "size",
        static_cast<Py_ssize_t>(s.size()), "geometry", "lane_count", geo.lane_count, "lane_capacity", geo.lane_capacity,
        "mpsc_capacity", geo.mpsc_capacity, "name_capacity", geo.name_capacity, "reader", "pid",
        h.reader_pid.load(std::memory_order_acquire), "heartbeat_age_s", age, "alive",
        beat != 0 && age <= 2.0 ? Py_True : Py_False, "counters", "lane_claims",
        static_cast<unsigned long long>(h.lane_claims.load(std::memory_order_relaxed)), "lane_claim_failures",
        static_cast<unsigned long long>(h.lane_claim_failures.load(std::memory_order_relaxed)), "name_table_full",
        static_cast<unsigned long long>(h.name_table_full.load(std::memory_order_relaxed)), "lanes_lost",
        static_cast<unsigned long long>(h.lanes_lost.load(std::memory_order_relaxed)), "lanes", lanes);
  } catch (const SegmentError& e) {
    return raise_error(-2, "telering: %s", e.what());
  } catch (const std::exception& e) {
    return raise_error(-5, "telering: inspect_segment: %s", e.what());
  }
}

}  // namespace

PyMethodDef kInspectMethods[] = {
    {"inspect_segment", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(inspect_segment)),
     METH_VARARGS | METH_KEYWORDS,
     PyDoc_STR("inspect_segment(segment, *, trust_other_owner=False) -> dict: the segment's geometry, its reader "
               "(pid, heartbeat age, alive), counters and the lanes in use, read without attaching.")},
    {"_stock_handler_lines", stock_handler_lines, METH_NOARGS,
     PyDoc_STR("_stock_handler_lines() -> int: log lines written by the native stock-handler path (for tests).")},
    {nullptr, nullptr, 0, nullptr},
};

}  // namespace telering::python
