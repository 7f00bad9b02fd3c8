// chutoro — the readers of src/io on bytes already in memory (internal): what
// read_csv and read_lines do after reading the file, for the fuzz targets
// (tests/fuzz) and any caller that holds the bytes. `name` stands for the file
// in messages; errors, formats and complexity as in include/chutoro/io.hpp.
#pragma once

#include <chutoro/io.hpp>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace chutoro::io_detail {

/// read_csv on `bytes` (a UTF-8 BOM is skipped).
dense_table parse_csv(std::string_view bytes, const std::string& name,
                      std::optional<std::string_view> label_column = std::nullopt,
                      const csv_options& options = {});

/// read_lines on `bytes` (a UTF-8 BOM is skipped).
std::vector<std::string> parse_lines(std::string_view bytes, const std::string& name);

}  // namespace chutoro::io_detail
