"""``qsnn-deploy``: train → convert → estimate → deploy spiking CNNs for Speck / DynapCNN chips."""

from __future__ import annotations

import click

from qsnn_deploy import __version__

from .analyze_cmd import analyze
from .common import QsnnGroup
from .convert_cmd import convert
from .datasets_cmd import datasets
from .deploy_cmd import deploy
from .doctor_cmd import doctor
from .estimate_cmd import estimate
from .pipeline_cmd import pipeline
from .profiles_cmd import profiles
from .record_cmd import record
from .sweep_cmd import sweep
from .train_cmd import train


@click.group(
    cls=QsnnGroup,
    epilog="""\b
Examples:
  qsnn-deploy pipeline --out runs/demo          # everything on the built-in digits-dvs data
  qsnn-deploy train --epochs 5 --out runs/r1
  qsnn-deploy sweep --synop-targets 1e5,2e5,4e5 --out runs/sweep
  qsnn-deploy datasets                           # known datasets and which are on disk
  qsnn-deploy convert runs/r1/checkpoint.pt --target speck2f --out bundles/r1
  qsnn-deploy estimate bundles/r1 --target speck2f --format json
  qsnn-deploy deploy bundles/r1 --target emulator --dataset digits-dvs
  qsnn-deploy record --target speck2f --out data/mine --label wave --count 10

Exit codes: 0 ok, 1 internal error, 2 usage, 3 bad input file/config/profile,
4 model violates the target's constraints, 5 backend or device unavailable.""",
)
@click.version_option(__version__, prog_name="qsnn-deploy")
@click.option("--debug", is_flag=True, help="show tracebacks on errors")
def cli(debug: bool) -> None:
    """Take spiking CNNs from training to SynSense Speck / DynapCNN chips."""


for command in (train, convert, estimate, deploy, record, profiles, pipeline, doctor, sweep, analyze, datasets):
    cli.add_command(command)


def main() -> None:
    cli.main()


if __name__ == "__main__":
    main()
