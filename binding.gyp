{
  "targets": [
    {
      "target_name": "riverbed_native",
      "sources": [
        "native/riverbed.cc",
        "native/bindings.cc",
        "native/pool.cc",
        "native/cpu.cc",
        "native/gemm.cc",
        "native/elementwise.cc",
        "native/softmax.cc",
        "native/mlp_hvp.cc",
        "native/mlp_train.cc",
        "native/mlp_train_binding.cc",
        "native/reduce.cc",
        "native/optim.cc",
        "native/conv.cc",
        "native/pooling.cc",
        "native/gu_project.cc",
        "native/landscape.cc",
        "native/bisim.cc",
        "native/cld.cc",
        "native/select.cc",
        "native/mmap.cc"
      ],
      "include_dirs": ["<!(node -p \"require('node-addon-api').include_dir\")"],
      "defines": ["NAPI_VERSION=8", "NAPI_CPP_EXCEPTIONS", "NODE_ADDON_API_DISABLE_DEPRECATED"],
      "cflags!": ["-fno-exceptions", "-O2", "-O0"],
      "cflags_cc!": ["-fno-exceptions", "-fno-rtti", "-std=gnu++14", "-std=gnu++17", "-O2", "-O0"],
      "cflags": ["-O3", "-pthread", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math"],
      "cflags_cc": ["-std=c++17", "-fexceptions", "-O3", "-pthread", "-fopenmp-simd", "-fno-math-errno", "-fno-trapping-math", "-Wall", "-Wno-unused-function", "-Wno-maybe-uninitialized"],
      "ldflags": ["-pthread"],
      "xcode_settings": {
        "GCC_ENABLE_CPP_EXCEPTIONS": "YES",
        "CLANG_CXX_LANGUAGE_STANDARD": "c++17",
        "OTHER_CFLAGS": ["-O3"]
      },
      "msvs_settings": { "VCCLCompilerTool": { "ExceptionHandling": 1 } }
    }
  ]
}
