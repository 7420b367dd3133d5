"""``qsnn-deploy train``."""

from __future__ import annotations

import click

from .common import emit_json, log, quiet_option


@click.command(epilog="""\b
Examples:
  qsnn-deploy train                                  # digits_speck on digits-dvs, defaults from the model
  qsnn-deploy train --epochs 5 --seed 1 --out runs/s1
  qsnn-deploy train --synop-penalty 1e-7 --out runs/sparse   # trade accuracy for fewer SynOps
  qsnn-deploy train --synop-target 5e5 --out runs/t500k      # aim at 500 k SynOps per sample
  qsnn-deploy train --bits 8,4,4,8 --out runs/mixed          # weight bits per layer (or --bits 4, --bits conv2=4)
  qsnn-deploy train --init runs/r1 --synop-target 3e5 --out runs/ft   # fine-tune a trained run
  qsnn-deploy train --model my_net.yaml --device cuda --out runs/gpu
Writes OUT/checkpoint.pt, OUT/metrics.json, OUT/config.yaml and OUT/training_curve.png.""")
@click.option("--model", default="digits_speck", show_default=True, help="zoo model name or model YAML path")
@click.option("--dataset", default="digits-dvs", show_default=True, help="dataset name")
@click.option("--epochs", type=int, help="training epochs [model default]")
@click.option("--batch-size", type=int, help="samples per batch [model default]")
@click.option("--lr", type=float, help="Adam learning rate (cosine-annealed) [model default]")
@click.option("--time-bins", type=int, help="time bins per sample [model default]")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--device", default="auto", show_default=True, help="auto, cpu, cuda or cuda:N")
@click.option("--synop-penalty", type=float, default=0.0, show_default=True,
              help="α in loss = CE + α·SynOps per sample (try 1e-8 … 1e-6)")
@click.option("--synop-target", type=float, default=None,
              help="target SynOps per sample: loss = CE + ((SynOps − N)/N)² (SynOpLoss' target form)")
@click.option("--bits", help="weight bits per layer, 2..8: '4' (all), '8,4,4,8' (in layer order), 'conv2=4' "
              "(by name) [model YAML weight_bits, default 8]")
@click.option("--bit-budget", help="with --bits auto: average bits per weight ('4') or a total size ('12kB')")
@click.option("--init", "init", type=click.Path(), help="start from the weights of this run folder or checkpoint")
@click.option("--no-qat", is_flag=True, help="train in float (no chip quantisation during training)")
@click.option("--limit", type=int, help="use only the first N samples of each split (quick smoke runs)")
@click.option("--out", default="runs/train", show_default=True, type=click.Path(file_okay=False),
              help="run folder to write")
@click.option("--overwrite", is_flag=True, help="replace an existing run folder")
@click.option("--format", "fmt", type=click.Choice(["text", "json"]), default="text", show_default=True)
@quiet_option
def train(model, dataset, epochs, batch_size, lr, time_bins, seed, device, synop_penalty, synop_target, bits,
          bit_budget, init, no_qat, limit, out, overwrite, fmt, quiet) -> None:
    """Train a spiking CNN with quantisation-aware BPTT; writes a run folder."""
    from qsnn_deploy.train.trainer import TrainConfig, train as run_training

    cfg = TrainConfig(model=model, dataset=dataset, epochs=epochs, batch_size=batch_size, lr=lr,
                      time_bins=time_bins, seed=seed, device=device, quantize=not no_qat,
                      synop_penalty=synop_penalty, synop_target=synop_target, limit=limit, bits=bits,
                      bit_budget=bit_budget, init=init)
    metrics = run_training(cfg, out, overwrite=overwrite, progress=not quiet)
    if fmt == "json":
        emit_json({k: v for k, v in metrics.items() if k != "history"} | {"out": str(out)})
    else:
        click.echo(f"test accuracy {100 * metrics['test_accuracy']:.2f}% ({metrics['bits_label']} QAT model), "
                   f"{100 * metrics['float_test_accuracy']:.2f}% (same weights in float); "
                   f"{metrics['synops_per_sample']:.3g} SynOps/sample; run folder: {out}")
    log(f"training took {metrics['train_time_s']:.0f} s")
