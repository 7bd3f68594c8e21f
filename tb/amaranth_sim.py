"""Block tests of rtl/'s sub-components in Amaranth's own simulator (no Verilog, no simulator build): a component,
a clock and async testbenches (Amaranth 0.5 ``add_testbench``), and the stream and register-bus steps they share."""

from amaranth.sim import Simulator

__all__ = ["simulate", "stream_put", "bus_write", "bus_read", "record_encoder"]


def simulate(dut, *testbenches):
    """Run ``dut`` with a 1 MHz ``sync`` clock (if it has the domain) and each ``testbench(ctx)`` until every one
    has returned; an assertion failing in a testbench fails the run."""
    sim = Simulator(dut)
    sim.add_clock(1e-6, if_exists=True)      # a purely combinational design has no sync domain
    for testbench in testbenches:
        sim.add_testbench(testbench)
    sim.run()


async def stream_put(ctx, stream, payload):
    """Offer ``payload`` on ``stream`` (an ``amaranth.lib.stream`` interface, source side) until it is taken."""
    ctx.set(stream.valid, 1)
    ctx.set(stream.payload, payload)
    while not ctx.get(stream.ready):
        await ctx.tick()
    await ctx.tick()
    ctx.set(stream.valid, 0)


async def bus_write(ctx, bus, addr, value):
    """One register write on ``bus`` (rtl/regfile.py RegisterBus, host side)."""
    ctx.set(bus.addr, addr)
    ctx.set(bus.wdata, value & 0xFFFF_FFFF)
    ctx.set(bus.we, 1)
    await ctx.tick()
    ctx.set(bus.we, 0)


async def bus_read(ctx, bus, addr):
    """One register read on ``bus``; returns the word read."""
    ctx.set(bus.addr, addr)
    ctx.set(bus.re, 1)
    await ctx.tick()
    ctx.set(bus.re, 0)
    return ctx.get(bus.rdata)


ENCODER_OUTPUTS = ("wl", "pulse", "adc_start", "code_valid", "first", "last")


def record_encoder(dut, adc_latency, x, mvms=2):
    """Run ``mvms`` MVMs of vector ``x`` on the input encoder ``dut`` (rtl/input_encoder.py's slot) with an ADC model
    that raises ``adc_done`` ``adc_latency`` cycles after ``adc_start``. Returns per MVM its cycle-by-cycle outputs
    (dicts of :data:`ENCODER_OUTPUTS`, from the cycle after ``start`` to its last ``code_valid``, at most four times
    the MVM's expected cycles) and the wordlines after it."""
    bound = 4 * dut.reads * dut.read_cycles(adc_latency)
    trace = []

    async def testbench(ctx):
        for i, v in enumerate(x):
            ctx.set(dut.x[i], v)
        for _ in range(mvms):
            ctx.set(dut.start, 1)
            await ctx.tick()
            ctx.set(dut.start, 0)
            cycles, done_at = [], None
            while len(cycles) < bound:
                if ctx.get(dut.adc_start):
                    done_at = adc_latency
                ctx.set(dut.adc_done, done_at == 0)
                row = {name: ctx.get(getattr(dut, name)) for name in ENCODER_OUTPUTS}
                cycles.append(row)
                done_at = None if done_at in (None, 0) else done_at - 1
                await ctx.tick()
                if row["code_valid"] and row["last"]:
                    break
            ctx.set(dut.adc_done, 0)
            trace.append((cycles, ctx.get(dut.wl)))

    simulate(dut, testbench)
    return trace
