// Behavioural testbench memories of the chip harness (not RTL of the chip). Ref: docs/architecture.md §5, D7.
//
// Python writes whole blocks of work into files and the simulator runs them without waking Python per word, MVM
// or bit-plane: np_cmd_source streams a command program loaded with $fread, np_resp_sink captures the chip's
// response words and writes them with $writememh, np_crossbar_mem replays a tile's per-read integer current codes
// (D3; D8 for a PWM read) into its comparators and checks the wordline enables the tile drives against the expected
// ones (a PWM read's pulse widths with tb/hdl/pwm_check.v).

// Streams words 0 .. count-1 of FILE (loaded, and the stream restarted, in a cycle with `load` high).
module np_cmd_source #(
    parameter integer DEPTH = 131072,
    parameter FILE = "cmd.bin"
) (
    input  wire        clk,
    input  wire        load,
    input  wire [31:0] count,
    output wire [31:0] data,
    output wire        valid,
    input  wire        ready,
    output reg  [31:0] sent
);
    reg [31:0] mem [0:DEPTH-1];
    integer fd, got;
    initial sent = 0;
    assign valid = !load && sent < count;
    assign data = mem[sent[$clog2(DEPTH)-1:0]];
    always @(posedge clk) begin
        if (load) begin
            // The file holds exactly `count` words, 4 bytes each, the most significant first ($fread's order).
            if (count != 0) begin
                fd = $fopen(FILE, "rb");
                if (fd == 0) $fatal(1, "np_cmd_source: cannot open %0s", FILE);
                got = $fread(mem, fd, 0, count);
                $fclose(fd);
                if (got != count * 4) $fatal(1, "np_cmd_source: %0s holds %0d bytes, not %0d", FILE, got, count * 4);
            end
            sent <= 0;
        end else if (valid && ready) begin
            sent <= sent + 1;
        end
    end
endmodule

// Captures response words; `clear` restarts the capture, `dump` writes words 0 .. count-1 to FILE.
module np_resp_sink #(
    parameter integer DEPTH = 131072,
    parameter FILE = "resp.hex"
) (
    input  wire        clk,
    input  wire        clear,
    input  wire        dump,
    input  wire [31:0] data,
    input  wire        valid,
    output wire        ready,
    output reg  [31:0] count,
    output reg         overflow
);
    reg [31:0] mem [0:DEPTH-1];
    initial begin
        count = 0;
        overflow = 0;
    end
    assign ready = 1'b1;
    always @(posedge clk) begin
        if (clear) begin
            count <= 0;
            overflow <= 0;
        end else if (valid) begin
            if (count < DEPTH) mem[count[$clog2(DEPTH)-1:0]] <= data;
            else overflow <= 1;
            count <= count + 1;
        end
        if (dump && count != 0) $writememh(FILE, mem, 0, (count < DEPTH ? count : DEPTH) - 1);
    end
endmodule

// One tile's crossbar: on every `pulse` (start of a read) the next entry of ICODE_FILE (the integer current codes of
// all columns, lane 0 in the low bits; both files hold binary words, as $fread loads them) drives `icode` until the
// next pulse; `planes` counts the reads since the last
// `load`, `wl_ones` the wordlines the tile drove with a 1 in their pulse cycles (the energy model's 1-drives,
// model/events.py), `wl_errors` the reads whose wordlines were wrong. Bit-serial (`pwm` low): a read is a bit-plane,
// and the tile's wordline enables are compared with the same entry of WL_FILE in its pulse cycle. PWM (`pwm` high,
// D8): a read is a window of WINDOW cycles; WL_FILE holds WIDTH_BITS entries per read, the bit-slices (LSB first) of
// every row's expected pulse width in cycles, which np_pwm_check compares with the driven cycles it counts; while the
// window integrates and in the conversion's sampling cycle the comparators see CHARGING_ICODE (the positive rail) on
// every column, the read's codes after that. ICODE_FILE holds `count` entries (given with `load`), WL_FILE `count`
// (bit-serial) or `count * WIDTH_BITS` (PWM). Everything but `load` runs on the tile's clock, `tile_clk` (gated while
// the tile idles, rtl/clock_gate.py), so an idle tile's crossbar, comparators and ADCs cost the simulator nothing: a
// `load` (on `clk`) is taken at the tile's first clock edge after it, always before its first read, since the tile
// wakes for the commands that precede it.
module np_crossbar_mem #(
    parameter integer ROWS = 256,
    parameter integer COLUMNS = 128,
    parameter integer ICODE_BITS = 18,
    parameter integer DEPTH = 16384,
    parameter ICODE_FILE = "icode.bin",
    parameter WL_FILE = "wl.bin",
    parameter integer WINDOW = 255,
    parameter integer WIDTH_BITS = 8,
    parameter integer CHARGING_ICODE = 0
) (
    input  wire                          clk,
    input  wire                          tile_clk,
    input  wire                          load,
    input  wire [31:0]                   count,
    input  wire                          pwm,
    input  wire                          pulse,
    input  wire [ROWS-1:0]               wl,
    output wire [COLUMNS*ICODE_BITS-1:0] icode,
    output reg  [31:0]                   planes,
    output wire [31:0]                   wl_errors,
    output reg  [31:0]                   wl_ones
);
    reg [COLUMNS*ICODE_BITS-1:0] icodes [0:DEPTH-1];
    reg [ROWS-1:0] wls [0:DEPTH-1];
    reg [COLUMNS*ICODE_BITS-1:0] held;
    reg [31:0] plane_errors;
    reg [31:0] loads, loads_seen;            // loads on `clk`; those taken on `tile_clk`
    reg pwm_reads;                           // `pwm` of the load taken (on `tile_clk`, as all the comparators see)
    integer fd, got;
    wire fresh = loads != loads_seen;        // a load not yet taken
    wire [$clog2(DEPTH)-1:0] ptr = planes[$clog2(DEPTH)-1:0];
    function [31:0] popcount(input [ROWS-1:0] v);
        integer i;
        begin
            popcount = 0;
            for (i = 0; i < ROWS; i = i + 1) popcount = popcount + {31'd0, v[i]};
        end
    endfunction
    initial begin
        loads = 0;
        loads_seen = 0;
        pwm_reads = 0;
        planes = 0;
        plane_errors = 0;
        wl_ones = 0;
        held = 0;
    end

    // PWM: the current read's expected widths (`planes` has counted it from the cycle after its pulse on).
    wire [31:0] read = pulse ? planes : planes - 1;
    wire [ROWS*WIDTH_BITS-1:0] width;
    genvar k;
    generate
        for (k = 0; k < WIDTH_BITS; k = k + 1) begin : width_bit
            wire [31:0] entry = read * WIDTH_BITS + k;
            assign width[k*ROWS +: ROWS] = wls[entry[$clog2(DEPTH)-1:0]];
        end
    endgenerate
    wire charging;
    wire [31:0] pwm_errors;
    np_pwm_check #(.ROWS(ROWS), .WINDOW(WINDOW), .WIDTH_BITS(WIDTH_BITS)) pwm_check (
        .clk(tile_clk), .clear(fresh), .enable(pwm_reads), .pulse(pulse), .wl(wl), .width(width), .charging(charging), .reads(),
        .errors(pwm_errors));
    wire [ICODE_BITS-1:0] rail = CHARGING_ICODE;
    assign wl_errors = plane_errors + pwm_errors;

    // Bit-serial: the comparators see the new plane from its pulse cycle on (the SAR's first decision ends the next
    // cycle). PWM: the positive rail until the charge has been integrated and sampled.
    assign icode = charging ? {COLUMNS{rail}} : pulse ? icodes[ptr] : held;
    // The harness's input flops hold no value before the first edge (in runs without init values, only reset gives
    // one; tests/test_rtl_x_init.py): a `load` is taken from the second edge on.
    reg started;
    initial started = 0;
    always @(posedge clk) begin
        started <= 1;
        if (load && started) loads <= loads + 1;
    end
    always @(posedge tile_clk) begin
        loads_seen <= loads;
        if (fresh) begin
            if (pulse) $fatal(1, "np_crossbar_mem: a read began in the cycle its replay files were taken");
            pwm_reads <= pwm;
            if (count != 0) begin
                fd = $fopen(ICODE_FILE, "rb");
                if (fd == 0) $fatal(1, "np_crossbar_mem: cannot open %0s", ICODE_FILE);
                got = $fread(icodes, fd, 0, count);
                $fclose(fd);
                if (got != count * ((COLUMNS * ICODE_BITS + 7) / 8))
                    $fatal(1, "np_crossbar_mem: %0s holds %0d bytes for %0d reads", ICODE_FILE, got, count);
                fd = $fopen(WL_FILE, "rb");
                if (fd == 0) $fatal(1, "np_crossbar_mem: cannot open %0s", WL_FILE);
                got = $fread(wls, fd, 0, pwm ? count * WIDTH_BITS : count);
                $fclose(fd);
                if (got != (pwm ? count * WIDTH_BITS : count) * ((ROWS + 7) / 8))
                    $fatal(1, "np_crossbar_mem: %0s holds %0d bytes for %0d reads", WL_FILE, got, count);
            end
            planes <= 0;
            plane_errors <= 0;
            wl_ones <= 0;
        end else if (pulse) begin
            held <= icodes[ptr];
            planes <= planes + 1;
            wl_ones <= wl_ones + popcount(wl);
            if (planes >= DEPTH || (!pwm_reads && wl !== wls[ptr])) plane_errors <= plane_errors + 1;
        end
    end
endmodule
