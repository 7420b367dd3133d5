"""Every samna name the stand-in knows, and where each one comes from.

The stand-in answers only these names; anything else raises ``AttributeError`` as the real module
would. A name is listed only with a public source: a line of sinabs 3.1.3's own code, a page of
samna's documentation, or a SynSense notebook / FAQ / library that calls it. Names marked
``SIMULATED = False`` below exist in the stand-in (so sinabs imports and tests can probe them) but
are not simulated: using them raises ``NotImplementedError``.

``API`` maps a qualified name to ``(result, source)``. Qualified names start with a module path
(``samna.device.open_device``) or, for objects samna returns without a documented class path, a role
name (``Device.get_model``: the handle ``open_device`` returns). ``result`` is the type of what the
attribute gives (a module, a class, the role returned by calling a function/method, ``list:T`` for a
list of ``T``), or ``None`` for plain values. Classes and their instances share a path: a field of a
``Spike`` is ``samna.speck2f.event.Spike.x``. The static check in tests/deploy/test_samna_names.py
follows these result types through our chip path.
"""

from __future__ import annotations

_SINABS = "sinabs 3.1.3 sinabs/backend/dynapcnn/"
IO, NET, CB = _SINABS + "io.py", _SINABS + "dynapcnn_network.py", _SINABS + "config_builder.py"
DYN, S2F, S2E = _SINABS + "chips/dynapcnn.py", _SINABS + "chips/speck2f.py", _SINABS + "chips/speck2e.py"
CF, VIZ, SIM, DVS = (
    _SINABS + "chip_factory.py",
    _SINABS + "dynapcnn_visualizer.py",
    _SINABS + "specksim.py",
    _SINABS + "dvs_layer.py",
)
_DOCS = "sinabs docs (github.com/synsense/sinabs) "
NB_READOUT = _DOCS + "docs/speck/notebooks/using_readout_layer.ipynb"
NB_POWER = _DOCS + "docs/speck/notebooks/power_monitoring.ipynb"
NB_LEAK = _DOCS + "docs/speck/notebooks/leak_neuron.ipynb"
FAQ_DEVICES = _DOCS + "docs/speck/faqs/device_management.md"
FAQ_BINARY = _DOCS + "docs/speck/faqs/save_hardware_config_as_binary.md"
FAQ_MONITOR = _DOCS + "docs/source/faqs/output_monitoring.md"
SAMNA_CFG = "https://synsense-sys-int.gitlab.io/samna/reference/{chip}/configuration/index.html"
SAMNA_EVENT = "https://synsense-sys-int.gitlab.io/samna/reference/{chip}/event/index.html"
ROCKPOOL = "SynSense rockpool, rockpool/devices/xylo/syns65302/afe_samna_pdm.py (sink.get_events_blocking(ms))"

CHIPS = ("speck2f", "speck2e")

API: dict[str, tuple[str | None, str]] = {
    # --- the module and its top-level names
    "samna.__version__": (None, NB_POWER + " (samna.__version__ >= '0.21.8')"),
    "samna.device": ("samna.device", IO + ":43"),
    "samna.graph": ("samna.graph", NET + ":376"),
    "samna.ui": ("samna.ui", VIZ + ":230"),
    "samna.specksim": ("samna.specksim", SIM + ":8"),
    "samna.BasicSourceNode_speck2f_event_input_event": ("SourceNode", S2F + ":27"),
    "samna.BasicSinkNode_speck2f_event_output_event": ("SinkNode", S2F + ":31"),
    "samna.BasicSourceNode_speck2e_event_speck2e_input_event": ("SourceNode", S2E + ":27"),
    "samna.BasicSinkNode_speck2e_event_output_event": ("SinkNode", S2E + ":31"),
    "samna.BasicSinkNode_unifirm_modules_events_measurement": ("PowerSink", NB_POWER),
    "samna.BasicSourceNode_ui_event": (None, VIZ + ":475"),
    "samna.BasicSourceNode_specksim_events_spike": (None, SIM + ":199"),
    "samna.BasicSinkNode_specksim_events_spike": (None, SIM + ":237"),
    # --- devices
    "samna.device.get_all_devices": ("list:DeviceInfo", IO + ":132"),
    "samna.device.get_unopened_devices": ("list:DeviceInfo", FAQ_DEVICES),
    "samna.device.open_device": ("Device", IO + ":196; a DeviceInfo or a device type name: " + FAQ_DEVICES),
    "samna.device.close_device": (None, IO + ":215"),
    "samna.device.DeviceInfo": ("DeviceInfo", IO + ":149"),
    "DeviceInfo.device_type_name": (None, IO + ":134"),
    "DeviceInfo.usb_device_address": (None, IO + ":128"),
    "DeviceInfo.usb_bus_number": (None, FAQ_DEVICES + " (DeviceInfo repr)"),
    "DeviceInfo.serial_number": (None, FAQ_DEVICES + " (DeviceInfo repr)"),
    "DeviceInfo.logic_version": (None, FAQ_DEVICES + " (DeviceInfo repr)"),
    "Device.get_model": ("Model", NET + ":358"),
    "Device.get_model_sink_node": ("ModelSink", NB_READOUT),
    "Device.get_model_source_node": ("ModelSource", VIZ + ":460"),
    "Device.get_stop_watch": ("StopWatch", IO + ":44"),
    "Device.get_io_module": ("IoModule", NET + ":363"),
    "Device.get_power_monitor": ("PowerMonitor", VIZ + ":515"),
    "Device.reset_board_soft": (None, FAQ_DEVICES),
    "Model.apply_configuration": (None, NET + ":358"),
    "Model.get_sink_node": ("ModelSink", NET + ":380"),
    "Model.get_source_node": ("ModelSource", NET + ":388"),
    "StopWatch.start": (None, IO + ":44"),
    "StopWatch.stop": (None, IO + ":60"),
    "StopWatch.reset": (None, IO + ":76"),
    "StopWatch.set_enable_value": (None, NB_POWER),
    "IoModule.set_slow_clk": (None, NET + ":364"),
    "IoModule.set_slow_clk_rate": (None, NET + ":365 (Hz)"),
    "PowerMonitor.get_source_node": ("PowerSource", VIZ + ":520"),
    "PowerMonitor.start_auto_power_measurement": (None, VIZ + ":516 (rate in Hz: " + NB_POWER + ")"),
    "PowerMonitor.stop_auto_power_measurement": (None, NB_POWER),
    "Measurement.channel": (
        None,
        NB_POWER + " (channel 0..4: VDD_IO, VDD_RAM, VDD_LOGIC, VDD_PIXEL_DIGITAL, VDD_PIXEL_ANALOG)",
    ),
    "Measurement.value": (None, NB_POWER + " (W)"),
    "Measurement.timestamp": (None, NB_POWER),
    # --- graphs and their nodes
    "samna.graph.EventFilterGraph": ("EventFilterGraph", NET + ":376"),
    "samna.graph.sequential": ("EventFilterGraph", CB + ":138"),
    "samna.graph.JitMemberSelect": (None, VIZ + ":461"),
    "samna.graph.JitDvsEventToViz": (None, VIZ + ":462"),
    "samna.graph.JitSpikeCollection": (None, VIZ + ":503"),
    "samna.graph.JitSpikeCount": (None, VIZ + ":504"),
    "samna.graph.JitMajorityReadout": (None, VIZ + ":532"),
    "EventFilterGraph.sequential": ("list:Node", NET + ":377 (returns the nodes: " + VIZ + ":458)"),
    "EventFilterGraph.start": (None, NET + ":393"),
    "EventFilterGraph.stop": (None, CB + ":143"),
    "SourceNode.write": (None, NET + ":172"),
    "SinkNode.get_events": ("list:OutputEvent", NET + ":165"),
    "SinkNode.get_events_blocking": ("list:OutputEvent", SIM + ":381; with a timeout in ms: " + ROCKPOOL),
    "PowerSink.get_events": ("list:Measurement", NB_POWER),
    "PowerSink.get_events_blocking": ("list:Measurement", SIM + ":381; with a timeout in ms: " + ROCKPOOL),
    # --- the GUI and the simulator: listed for sinabs' imports, not simulated
    "samna.ui.Event": (None, VIZ + ":462"),
    "samna.ui.ActivityPlotConfiguration": (None, VIZ + ":230"),
    "samna.ui.ReadoutPlotConfiguration": (None, VIZ + ":251"),
    "samna.ui.SpikeCountPlotConfiguration": (None, VIZ + ":288"),
    "samna.ui.PowerMeasurementPlotConfiguration": (None, VIZ + ":323"),
    "samna.ui.VisualizerConfiguration": (None, VIZ + ":562"),
    "samna.specksim.nodes": ("samna.specksim.nodes", SIM + ":8"),
    "samna.specksim.events": ("samna.specksim.events", SIM + ":426"),
    "samna.specksim.nodes.SpecksimConvolutionalFilterNode": (None, SIM + ":8"),
    "samna.specksim.nodes.SpecksimIAFFilterNode": (None, SIM + ":9"),
    "samna.specksim.nodes.SpecksimSumPoolingFilterNode": (None, SIM + ":10"),
    "samna.specksim.events.Spike": (None, SIM + ":438"),
    "samnagui.run_visualizer": (None, IO + ":243"),
}

# Names that exist but are not simulated (the GUI, the simulator, a sinabs attribute read nowhere).
NOT_SIMULATED = {
    name for name in API if name.startswith(("samna.ui.", "samna.specksim.", "samnagui.")) and API[name][0] is None
} | {
    "samna.BasicSourceNode_ui_event",
    "samna.BasicSourceNode_specksim_events_spike",
    "samna.BasicSinkNode_specksim_events_spike",
    "samna.graph.JitMemberSelect",
    "samna.graph.JitDvsEventToViz",
    "samna.graph.JitSpikeCollection",
    "samna.graph.JitSpikeCount",
    "samna.graph.JitMajorityReadout",
    *(f"samna.{c}.configuration.SpeckConfiguration.DVSLayerConfig" for c in CHIPS),
}


def _chip(c: str) -> dict[str, tuple[str | None, str]]:
    m, cfg = f"samna.{c}", SAMNA_CFG.format(chip=c)
    e, k = f"{m}.event", f"{m}.configuration"
    builder = S2F if c == "speck2f" else S2E
    out: dict[str, tuple[str | None, str]] = {
        m: (m, builder + ":15"),
        f"{m}.event": (e, CF + ":65"),
        f"{m}.configuration": (k, builder + ":4"),
        f"{m}.validate_configuration": (None, CB + ":85"),
        # events in
        f"{e}.Spike": (f"{e}.Spike", CF + ":65"),
        f"{e}.Spike.layer": (None, CF + ":82"),
        f"{e}.Spike.x": (None, CF + ":83"),
        f"{e}.Spike.y": (None, CF + ":84"),
        f"{e}.Spike.feature": (None, CF + ":85"),
        f"{e}.Spike.timestamp": (None, CF + ":86 (µs)"),
        f"{e}.DvsEvent": (f"{e}.DvsEvent", NB_READOUT + " and " + SAMNA_EVENT.format(chip="speck2e")),
        f"{e}.DvsEvent.x": (None, NB_READOUT),
        f"{e}.DvsEvent.y": (None, NB_READOUT),
        f"{e}.DvsEvent.p": (None, NB_READOUT),
        f"{e}.DvsEvent.timestamp": (None, NB_READOUT),
        f"{e}.WriteNeuronValue": (f"{e}.WriteNeuronValue", CB + ":131"),
        f"{e}.WriteNeuronValue.address": (None, CB + ":132"),
        f"{e}.WriteNeuronValue.layer": (None, CB + ":133"),
        f"{e}.WriteNeuronValue.neuron_state": (None, CB + ":134"),
        f"{e}.ReadNeuronValue": (f"{e}.ReadNeuronValue", NB_LEAK + " and " + FAQ_MONITOR),
        f"{e}.ReadNeuronValue.layer": (None, NB_LEAK),
        f"{e}.ReadNeuronValue.address": (None, NB_LEAK),
        # events out: the readout block (its word layout: NB_READOUT, section 2)
        f"{e}.ReadoutValue": (
            f"{e}.ReadoutValue",
            NB_READOUT
            + f" (type filter '{c}::event::ReadoutValue'); "
            + SAMNA_EVENT.format(chip="speck2e")
            + "#samna.speck2e.event.ReadoutValue",
        ),
        f"{e}.ReadoutValue.value": (None, NB_READOUT + " ('value' is 21 bits; it has no timestamp)"),
        f"{e}.ReadoutPinValue": (f"{e}.ReadoutPinValue", NB_READOUT),
        f"{e}.ReadoutPinValue.index": (None, NB_READOUT),
        f"{e}.ReadoutPinValue.timestamp": (None, NB_READOUT),
        # the reply to ReadNeuronValue: its class name is in no source we could read, its fields are
        "NeuronReply.layer": (None, FAQ_MONITOR),
        "NeuronReply.address": (None, NB_LEAK + " and " + FAQ_MONITOR),
        "NeuronReply.neuron_state": (None, NB_LEAK + " and " + FAQ_MONITOR),
        # the configuration
        f"{k}.SpeckConfiguration": (f"{k}.SpeckConfiguration", builder + ":4"),
        f"{k}.SpeckConfiguration.cnn_layers": (f"list:{k}.CnnLayerConfig", DYN + ":270"),
        f"{k}.SpeckConfiguration.dvs_layer": (f"{k}.DvsLayerConfig", DYN + ":264"),
        f"{k}.SpeckConfiguration.readout": (f"{k}.ReadoutConfig", NB_READOUT),
        f"{k}.SpeckConfiguration.factory_config": (f"{k}.FactoryConfig", FAQ_BINARY),
        f"{k}.SpeckConfiguration.DVSLayerConfig": (None, builder + ":23 (get_dvs_layer_config, called nowhere)"),
        f"{k}.FactoryConfig.io_sel": (None, FAQ_BINARY + " (24 = 0b11000 for the readout pins)"),
        f"{k}.CnnLayerConfig": (f"{k}.CnnLayerConfig", cfg),
        f"{k}.CnnLayerConfig.dimensions": (f"{k}.CnnLayerDimensions", DYN + ":228; " + cfg),
        f"{k}.CnnLayerConfig.destinations": (f"list:{k}.CnnLayerDestination", DYN + ":232; " + cfg + " (2 of them)"),
        f"{k}.CnnLayerConfig.weights": (None, DYN + ":129 ([c_out][c_in][x][y]: transpose(2, 3) at :128)"),
        f"{k}.CnnLayerConfig.biases": (None, DYN + ":130"),
        f"{k}.CnnLayerConfig.leak_enable": (None, DYN + ":131; " + cfg),
        f"{k}.CnnLayerConfig.return_to_zero": (None, DYN + ":163"),
        f"{k}.CnnLayerConfig.threshold_high": (None, DYN + ":164"),
        f"{k}.CnnLayerConfig.threshold_low": (None, DYN + ":165"),
        f"{k}.CnnLayerConfig.monitor_enable": (None, DYN + ":166; " + cfg),
        f"{k}.CnnLayerConfig.neurons_initial_value": (None, DYN + ":167 ([feature][x][y])"),
        f"{k}.CnnLayerConfig.input_congestion_balancer_enable": (None, cfg),
        f"{k}.CnnLayerConfig.leak_internal_slow_clk_enable": (None, cfg),
        f"{k}.CnnLayerDimensions": (f"{k}.CnnLayerDimensions", cfg),
        f"{k}.CnnLayerDimensions.input_shape": ("Shape", DYN + ":99"),
        f"{k}.CnnLayerDimensions.output_shape": ("Shape", DYN + ":99; read back as an object: " + VIZ + ":579"),
        f"{k}.CnnLayerDimensions.padding": ("XY", DYN + ":109"),
        f"{k}.CnnLayerDimensions.stride": ("XY", DYN + ":113"),
        f"{k}.CnnLayerDimensions.kernel_size": (None, DYN + ":117"),
        f"{k}.CnnLayerDestination": (f"{k}.CnnLayerDestination", cfg),
        f"{k}.CnnLayerDestination.layer": (None, DYN + ":232"),
        f"{k}.CnnLayerDestination.enable": (None, DYN + ":233"),
        f"{k}.CnnLayerDestination.pooling": (None, DYN + ":234"),
        f"{k}.DvsLayerConfig.destinations": (f"list:{k}.CnnLayerDestination", DYN + ":66"),
        f"{k}.DvsLayerConfig.pass_sensor_events": (None, DYN + ":69"),
        f"{k}.DvsLayerConfig.merge": (None, DYN + ":72"),
        f"{k}.DvsLayerConfig.monitor_enable": (None, DYN + ":347"),
        f"{k}.DvsLayerConfig.pooling": ("XY", DYN + ":348; " + DVS + ":190"),
        f"{k}.DvsLayerConfig.mirror": ("XY", DVS + ":194"),
        f"{k}.DvsLayerConfig.mirror_diagonal": (None, DVS + ":195"),
        f"{k}.DvsLayerConfig.cut": ("XY", DVS + ":196"),
        f"{k}.DvsLayerConfig.origin": ("XY", DVS + ":197"),
        f"{k}.ReadoutConfig": (f"{k}.ReadoutConfig", NB_READOUT + " (link to samna's ReadoutConfig.output_mode_sel)"),
        f"{k}.ReadoutConfig.enable": (None, NB_READOUT),
        f"{k}.ReadoutConfig.readout_configuration_sel": (None, NB_READOUT),
        f"{k}.ReadoutConfig.output_mode_sel": (None, NB_READOUT),
        f"{k}.ReadoutConfig.low_pass_filter_disable": (None, NB_READOUT),
        f"{k}.ReadoutConfig.threshold": (None, NB_READOUT),
        f"{k}.ReadoutConfig.monitor_enable": (
            None,
            NB_READOUT + " (when True, Spike events are no longer monitored: section 4.3)",
        ),
        f"{k}.ReadoutConfig.readout_pin_monitor_enable": (None, NB_READOUT),
    }
    if c == "speck2f":  # the flash image writer is documented for speck2f only
        out[f"{m}.configuration_to_flash_binary"] = (None, FAQ_BINARY)
    return out


for _c in CHIPS:
    API.update(_chip(_c))

SHAPES = {
    "Shape.size": ("XY", DYN + ":100"),
    "Shape.feature_count": (None, DYN + ":101"),
    "XY.x": (None, DYN + ":100"),
    "XY.y": (None, DYN + ":100"),
}
API.update(SHAPES)

# What a sink of chip output events may hold (the static check narrows it with isinstance).
OUTPUT_EVENTS = tuple(f"samna.{c}.event.{n}" for c in CHIPS for n in ("Spike", "ReadoutValue", "ReadoutPinValue")) + (
    "NeuronReply",
)
# The nodes a graph connects; any of them may be written to or read by the code that made it.
NODES = ("SourceNode", "SinkNode", "PowerSink", "ModelSink", "ModelSource", "PowerSource")
