// splatcore._core.SafetensorsFile: a bounds-checked safetensors reader.
#include <nanobind/stl/filesystem.h>
#include <nanobind/stl/string.h>
#include <nanobind/stl/vector.h>

#include "bindings/bindings.h"
#include "mast3r/safetensors.h"

namespace sc {

namespace {

const SafetensorsEntry& lookup(const SafetensorsFile& f, const std::string& name) {
  if (!f.contains(name))
    throw nb::key_error(("no tensor named '" + name + "' in " + f.path()).c_str());
  return f.info(name);
}

}  // namespace

void bind_safetensors(nb::module_& m) {
  nb::class_<SafetensorsFile>(
      m, "SafetensorsFile",
      "A safetensors file, opened and its header validated at construction.\n\n"
      "tensor(name) reads that tensor into memory it owns (no memory map: a\n"
      "file truncated after it was opened gives ValueError, not SIGBUS). Raises FileNotFoundError\n"
      "for a missing file and ValueError for anything that is not a valid\n"
      "safetensors file (PyTorch .pth/.pt checkpoints included).")
      .def(
          "__init__",
          [](SafetensorsFile* self, const std::filesystem::path& path) {
            std::string p = path.string();
            nb::gil_scoped_release nogil;
            new (self) SafetensorsFile(p);
          },
          nb::arg("path"))
      .def_prop_ro("path", &SafetensorsFile::path)
      .def_prop_ro("file_size", &SafetensorsFile::file_size)
      .def_prop_ro("data_offset", &SafetensorsFile::data_offset,
                   "Byte offset of the data section (8 + header length).")
      .def("names", &SafetensorsFile::names, "Tensor names, in the order of the header.")
      .def("keys", &SafetensorsFile::names)
      .def(
          "info",
          [](const SafetensorsFile& f, const std::string& name) {
            const SafetensorsEntry& e = lookup(f, name);
            nb::dict d;
            d["dtype"] = e.supported ? std::string(dtype_name(e.dtype)) : e.st_dtype;
            d["safetensors_dtype"] = e.st_dtype;
            nb::list shape;
            for (int64_t v : e.shape) shape.append(v);
            d["shape"] = nb::tuple(shape);
            d["data_offsets"] = nb::make_tuple(e.begin, e.end);
            d["nbytes"] = e.nbytes();
            return d;
          },
          nb::arg("name"),
          "{'dtype': splatcore dtype name (the file's code when unsupported), "
          "'safetensors_dtype', 'shape', 'data_offsets', 'nbytes'}.")
      .def(
          "tensor",
          [](const SafetensorsFile& f, const std::string& name, nb::handle dtype) {
            lookup(f, name);
            if (dtype.is_none()) return f.tensor(name);
            DType dt = dtype_arg(dtype);
            nb::gil_scoped_release nogil;
            return f.tensor_as(name, dt);
          },
          nb::arg("name"), nb::arg("dtype") = nb::none(),
          "The tensor, read into memory it owns; with dtype, converted.")
      .def("__getitem__",
           [](const SafetensorsFile& f, const std::string& name) {
             lookup(f, name);
             return f.tensor(name);
           })
      .def("metadata",
           [](const SafetensorsFile& f) {
             nb::dict d;
             for (const auto& kv : f.metadata()) d[nb::str(kv.first.c_str(), kv.first.size())] =
                 nb::str(kv.second.c_str(), kv.second.size());
             return d;
           },
           "The header's \"__metadata__\" (str -> str; empty when absent).")
      .def("__contains__",
           [](const SafetensorsFile& f, nb::handle name) {
             return nb::isinstance<nb::str>(name) && f.contains(nb::cast<std::string>(name));
           })
      .def("__len__", &SafetensorsFile::size)
      .def("__iter__",
           [](const SafetensorsFile& f) { return nb::iter(nb::cast(f.names())); })
      .def("__repr__", [](const SafetensorsFile& f) {
        return "SafetensorsFile('" + f.path() + "', " + std::to_string(f.size()) + " tensors)";
      });
}

}  // namespace sc
