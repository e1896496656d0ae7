{
  "targets": [
    {
      "target_name": "mc_kernel",
      "sources": ["mc_kernel.c", "cnn_kernel.c"],
      "cflags": ["-O3", "-fno-math-errno", "-ffp-contract=fast", "-std=gnu11"],
      "xcode_settings": { "OTHER_CFLAGS": ["-O3", "-ffp-contract=fast"] }
    }
  ]
}
