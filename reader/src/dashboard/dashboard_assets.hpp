// dashboard/dashboard_assets.hpp — the dashboard page, its script and style, and the chart
// library (uPlot), compiled into telering-reader: the page works offline, with no CDN and
// nothing fetched at run time. The definitions are generated at build time from
// reader/src/dashboard/web/ and third_party/uplot/ (embed_assets.cmake).
#pragma once

#include <cstddef>
#include <span>
#include <string_view>

namespace telering::reader::dashboard {

struct Asset {
  std::string_view path;          // "/", "/dashboard.js", "/uPlot.js", ...
  std::string_view content_type;
  std::string_view data;
};

[[nodiscard]] std::span<const Asset> dashboard_assets() noexcept;

}  // namespace telering::reader::dashboard
