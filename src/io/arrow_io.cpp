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
#include <parquet/file_reader.h>
#include <parquet/metadata.h>

#include <algorithm>
#include <chutoro/arrow.hpp>
#include <chutoro/error.hpp>
#include <string>
#include <utility>
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

std::unique_ptr<parquet::arrow::FileReader> open_parquet(const std::filesystem::path& path) {
  auto file = open_file(path);
  try {
    return value_or_throw(parquet::arrow::OpenFile(file, arrow::default_memory_pool()), path,
                          "not a readable Parquet file");
  } catch (const parquet::ParquetException& e) {
    throw error(error_code::parse, path.string() + ": not a readable Parquet file: " + e.what());
  }
}

/// Part `part` of `parts` of n rows: [part * n / parts, (part + 1) * n / parts), as read_npy_part.
std::pair<std::size_t, std::size_t> part_rows(std::size_t n, std::size_t part, std::size_t parts,
                                              const std::filesystem::path& path) {
  expects(parts > 0 && part < parts, error_code::invalid_argument,
          path.string() + ": part " + std::to_string(part) + " of " + std::to_string(parts) +
              " does not exist (parts are numbered 0..parts-1)");
  const auto cut = [&](std::size_t k) {
    return static_cast<std::size_t>(static_cast<unsigned __int128>(n) * k / parts);
  };
  return {cut(part), cut(part + 1)};
}

/// Appends rows [from, to) of the file to `b` out of the chunks starting at
/// the file's rows `starts` (starts.size() = chunks + 1): `read(k)` gives
/// chunk k's column, called only for chunks that hold some of those rows.
template <class Read>
void append_rows(arrow_column_builder& b, const std::vector<std::size_t>& starts, std::size_t from,
                 std::size_t to, const std::filesystem::path& path, column_part& out, Read&& read) {
  for (std::size_t k = 0; k + 1 < starts.size(); ++k) {
    if (starts[k + 1] <= from || starts[k] >= to) continue;
    const std::shared_ptr<arrow::ChunkedArray> chunks = read(k);
    ++out.chunks_read;
    const std::size_t a = std::max(from, starts[k]), e = std::min(to, starts[k + 1]);
    expects(static_cast<std::size_t>(chunks->length()) == starts[k + 1] - starts[k], error_code::parse,
            path.string() + ": chunk " + std::to_string(k) + " holds " + std::to_string(chunks->length()) +
                " rows, but the file's metadata says " + std::to_string(starts[k + 1] - starts[k]));
    const auto cut =
        chunks->Slice(static_cast<std::int64_t>(a - starts[k]), static_cast<std::int64_t>(e - a));
    for (const auto& chunk : cut->chunks())
      if (chunk->length() > 0) append_chunk(b, *chunk, path);
  }
}

column_part finish_part(arrow_column_builder&& b, column_part&& out, const std::string& name) {
  if (b.rows() > 0)
    out.column = std::move(b).finish(name);
  else
    out.column.name = name;
  return std::move(out);
}

// An IPC file's reader again, decoding only the chosen column (`probe`
// opened the same file without options, for its schema), and the column's name.
std::pair<std::shared_ptr<arrow::ipc::RecordBatchFileReader>, std::string> open_ipc_column(
    arrow::io::RandomAccessFile* file, const arrow::ipc::RecordBatchFileReader& probe,
    std::optional<std::string_view> column, const std::filesystem::path& path) {
  const int idx = pick_column(*probe.schema(), column, path);
  auto options = arrow::ipc::IpcReadOptions::Defaults();
  options.included_fields = {idx};  // decode only this column
  return {value_or_throw(arrow::ipc::RecordBatchFileReader::Open(file, options), path,
                         "not a readable Arrow IPC file"),
          probe.schema()->field(idx)->name()};
}

}  // namespace

bool arrow_files_supported() noexcept { return true; }

column_data read_parquet(const std::filesystem::path& path, std::optional<std::string_view> column) {
  const std::unique_ptr<parquet::arrow::FileReader> reader = open_parquet(path);
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
    auto [reader, name] = open_ipc_column(file.get(), **as_file, column, path);
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

column_part read_parquet_part(const std::filesystem::path& path, std::optional<std::string_view> column,
                              std::size_t part, std::size_t parts) {
  const std::unique_ptr<parquet::arrow::FileReader> reader = open_parquet(path);
  std::shared_ptr<arrow::Schema> schema;
  check(reader->GetSchema(&schema), path, "cannot read the Parquet schema");
  const int idx = pick_column(*schema, column, path);
  const std::string name = schema->field(idx)->name();
  column_part out;
  // Row groups' sizes from the footer: nothing of the data is read.
  const std::shared_ptr<parquet::FileMetaData> meta = reader->parquet_reader()->metadata();
  out.chunks_total = static_cast<std::size_t>(meta->num_row_groups());
  std::vector<std::size_t> starts(out.chunks_total + 1, 0);
  for (std::size_t g = 0; g < out.chunks_total; ++g)
    starts[g + 1] = starts[g] + static_cast<std::size_t>(meta->RowGroup(static_cast<int>(g))->num_rows());
  out.total_rows = starts.back();
  const auto [from, to] = part_rows(out.total_rows, part, parts, path);
  out.first_row = from;
  arrow_column_builder b(path.string() + ": column \"" + name + "\"", from);
  append_rows(b, starts, from, to, path, out, [&](std::size_t g) {
    std::shared_ptr<arrow::ChunkedArray> chunks;
    const std::string what = "cannot read column \"" + name + "\" of row group " + std::to_string(g);
    try {
      // This row group's chunk of this top-level field only.
      check(reader->RowGroup(static_cast<int>(g))->Column(idx)->Read(&chunks), path, what);
    } catch (const parquet::ParquetException& e) {
      throw error(error_code::parse, path.string() + ": " + what + ": " + e.what());
    }
    return chunks;
  });
  return finish_part(std::move(b), std::move(out), name);
}

column_part read_arrow_ipc_part(const std::filesystem::path& path, std::optional<std::string_view> column,
                                std::size_t part, std::size_t parts) {
  { io_detail::input_file probe(path); }  // a clear io error for missing files and directories
  auto file = value_or_throw(arrow::io::MemoryMappedFile::Open(path.string(), arrow::io::FileMode::READ),
                             path, "cannot open file", error_code::io);
  auto as_file = arrow::ipc::RecordBatchFileReader::Open(file.get());
  if (!as_file.ok()) {
    // The stream format has no index of its batches: read whole, keep the part.
    column_data all = read_arrow_ipc(path, column);
    column_part out;
    out.total_rows = all.size();
    out.chunks_total = out.chunks_read = 1;
    const auto [from, to] = part_rows(out.total_rows, part, parts, path);
    out.first_row = from;
    out.column.type = all.type;
    out.column.name = all.name;
    if (all.type == column_data::kind::dense) {
      out.column.dense.dim = all.dense.dim;
      out.column.dense.n = to - from;
      out.column.dense.values.assign(
          all.dense.values.begin() + static_cast<std::ptrdiff_t>(from * all.dense.dim),
          all.dense.values.begin() + static_cast<std::ptrdiff_t>(to * all.dense.dim));
    } else {
      out.column.strings.assign(
          std::make_move_iterator(all.strings.begin() + static_cast<std::ptrdiff_t>(from)),
          std::make_move_iterator(all.strings.begin() + static_cast<std::ptrdiff_t>(to)));
    }
    return out;
  }
  auto [reader, name] = open_ipc_column(file.get(), **as_file, column, path);
  column_part out;
  out.chunks_total = static_cast<std::size_t>(reader->num_record_batches());
  std::vector<std::shared_ptr<arrow::RecordBatch>> batches(out.chunks_total);
  std::vector<std::size_t> starts(out.chunks_total + 1, 0);
  for (std::size_t k = 0; k < out.chunks_total; ++k) {
    // Memory-mapped: the batch's buffers point into the mapping (no copy, no decoding when uncompressed).
    batches[k] = value_or_throw(reader->ReadRecordBatch(static_cast<int>(k)), path,
                                "cannot read record batch " + std::to_string(k));
    starts[k + 1] = starts[k] + static_cast<std::size_t>(batches[k]->num_rows());
  }
  out.total_rows = starts.back();
  const auto [from, to] = part_rows(out.total_rows, part, parts, path);
  out.first_row = from;
  arrow_column_builder b(path.string() + ": column \"" + name + "\"", from);
  append_rows(b, starts, from, to, path, out, [&](std::size_t k) {
    return std::make_shared<arrow::ChunkedArray>(arrow::ArrayVector{batches[k]->column(0)});
  });
  return finish_part(std::move(b), std::move(out), name);
}

}  // namespace chutoro
