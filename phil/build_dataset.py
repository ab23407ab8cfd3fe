"""Master PHIL of xdxd.build_dataset."""

master_phil_str = """
dataset {
  include scope xdxd_cctbx.dataset.builder.master_phil_str
}
output {
  prefix = dataset
    .type = str
    .help = "Output folder of the shards (shard_00000.npz, ...)"
}
"""
