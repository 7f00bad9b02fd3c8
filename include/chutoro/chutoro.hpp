// chutoro — umbrella header. FISHDBC density-based clustering
// (Dell'Amico 2019, arXiv:1910.07283) approximating HDBSCAN*.
#pragma once

#include <chutoro/data_source.hpp>
#include <chutoro/error.hpp>
#include <chutoro/fit.hpp>
#include <chutoro/metric_table.hpp>
#include <chutoro/metrics.hpp>
#include <chutoro/params.hpp>
#include <chutoro/plugin_source.hpp>
#include <chutoro/result.hpp>
#include <chutoro/simd.hpp>
#include <chutoro/version.hpp>
