// chutoro — Parquet and Arrow IPC readers on Apache Arrow C++ (built when
// CHUTORO_WITH_ARROW finds Arrow; see cmake/arrow.cmake). Arrow reads and
// decodes; every chunk of the one requested column is exported through the
// C data interface to arrow_column_builder, which validates and converts it.
#include <arrow/api.h>
#include <arrow/c/bridge.h>
#include <arrow/io/file.h>
#include <arrow/ipc/reader.h>
#include <parquet/arrow/reader.h>
#include <parquet/exception.h>

#include <chutoro/arrow.hpp>
#include <chutoro/error.hpp>
#include <string>
#include <vector>

#include "io/io_common.hpp"

namespace chutoro {

namespace {

/// Throws error(code) "<path>: <what>: <arrow message>" when `st` is not OK.
void check(const arrow::Status& st, const std::filesystem::path& path, std::string_view what,
           error_code code = error_code::parse) {
  if (st.ok()) return;
  if (st.IsIOError()) code = error_code::io;
  if (st.IsOutOfMemory()) code = error_code::internal;
  throw error(code, path.string() + ": " + std::string(what) + ": " + st.message());
}

template <class T>
T value_or_throw(arrow::Result<T> r, const std::filesystem::path& path, std::string_view what,
                 error_code code = error_code::parse) {
  check(r.status(), path, what, code);
  return std::move(r).ValueOrDie();
}

/// Index of the requested column in `schema`: `column`, or the only column.
int pick_column(const arrow::Schema& schema, std::optional<std::string_view> column,
                const std::filesystem::path& path) {
  std::string names;
  for (const auto& f : schema.fields()) names += (names.empty() ? "" : ", ") + f->name();
  if (!column || column->empty()) {
    if (schema.num_fields() == 1) return 0;
    throw error(error_code::invalid_argument,
                path.string() + ": " + std::to_string(schema.num_fields()) +
                    " columns; name the one to cluster with --column (columns: " + names + ")");
  }
  const int idx = schema.GetFieldIndex(std::string(*column));
  if (idx < 0) {
    throw error(error_code::invalid_argument, path.string() + ": no column \"" + std::string(*column) +
                                                  "\" (or it is not unique); columns: " + names);
  }
  return idx;
}

void append_chunk(arrow_column_builder& b, const arrow::Array& chunk, const std::filesystem::path& path) {
  ArrowArray c_array{};
  ArrowSchema c_schema{};
  check(arrow::ExportArray(chunk, &c_array, &c_schema), path, "cannot export the column",
        error_code::internal);
  try {
    b.append(c_schema, c_array);
  } catch (...) {
    c_array.release(&c_array);
    c_schema.release(&c_schema);
    throw;
  }
  c_array.release(&c_array);
  c_schema.release(&c_schema);
}

std::shared_ptr<arrow::io::ReadableFile> open_file(const std::filesystem::path& path) {
  { io_detail::input_file probe(path); }  // a clear io error for missing files and directories
  return value_or_throw(arrow::io::ReadableFile::Open(path.string()), path, "cannot open file",
                        error_code::io);
}

}  // namespace

bool arrow_files_supported() noexcept { return true; }

column_data read_parquet(const std::filesystem::path& path, std::optional<std::string_view> column) {
  auto file = open_file(path);
  std::unique_ptr<parquet::arrow::FileReader> reader;
  try {
    reader = value_or_throw(parquet::arrow::OpenFile(file, arrow::default_memory_pool()), path,
                            "not a readable Parquet file");
  } catch (const parquet::ParquetException& e) {
    throw error(error_code::parse, path.string() + ": not a readable Parquet file: " + e.what());
  }
  std::shared_ptr<arrow::Schema> schema;
  check(reader->GetSchema(&schema), path, "cannot read the Parquet schema");
  const int idx = pick_column(*schema, column, path);
  const std::string name = schema->field(idx)->name();
  std::shared_ptr<arrow::ChunkedArray> chunks;
  try {
    // Reads only the pages of this top-level field: a column projection.
    check(reader->ReadColumn(idx, &chunks), path, "cannot read column \"" + name + "\"");
  } catch (const parquet::ParquetException& e) {
    throw error(error_code::parse, path.string() + ": cannot read column \"" + name + "\": " + e.what());
  }
  arrow_column_builder b(path.string() + ": column \"" + name + "\"");
  for (const auto& chunk : chunks->chunks()) append_chunk(b, *chunk, path);
  return std::move(b).finish(name);
}

column_data read_arrow_ipc(const std::filesystem::path& path, std::optional<std::string_view> column) {
  auto file = open_file(path);
  // The file format (Feather v2, .arrow) first; the stream format otherwise.
  auto as_file = arrow::ipc::RecordBatchFileReader::Open(file.get());
  if (as_file.ok()) {
    const int idx = pick_column(*(*as_file)->schema(), column, path);
    const std::string name = (*as_file)->schema()->field(idx)->name();
    auto options = arrow::ipc::IpcReadOptions::Defaults();
    options.included_fields = {idx};  // decode only this column
    auto reader = value_or_throw(arrow::ipc::RecordBatchFileReader::Open(file.get(), options), path,
                                 "not a readable Arrow IPC file");
    arrow_column_builder b(path.string() + ": column \"" + name + "\"");
    for (int k = 0; k < reader->num_record_batches(); ++k) {
      auto batch = value_or_throw(reader->ReadRecordBatch(k), path, "cannot read record batch");
      append_chunk(b, *batch->column(0), path);
    }
    return std::move(b).finish(name);
  }
  check(file->Seek(0), path, "cannot seek", error_code::io);
  auto probe = arrow::ipc::RecordBatchStreamReader::Open(file.get());
  if (!probe.ok()) {
    throw error(error_code::parse,
                path.string() + ": not an Arrow IPC file or stream: " + as_file.status().message());
  }
  const int idx = pick_column(*(*probe)->schema(), column, path);
  const std::string name = (*probe)->schema()->field(idx)->name();
  check(file->Seek(0), path, "cannot seek", error_code::io);
  auto options = arrow::ipc::IpcReadOptions::Defaults();
  options.included_fields = {idx};
  auto reader = value_or_throw(arrow::ipc::RecordBatchStreamReader::Open(file.get(), options), path,
                               "not a readable Arrow IPC stream");
  arrow_column_builder b(path.string() + ": column \"" + name + "\"");
  for (;;) {
    std::shared_ptr<arrow::RecordBatch> batch;
    check(reader->ReadNext(&batch), path, "cannot read record batch");
    if (!batch) break;
    append_chunk(b, *batch->column(0), path);
  }
  return std::move(b).finish(name);
}

}  // namespace chutoro
