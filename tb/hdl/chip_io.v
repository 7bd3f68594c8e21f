// Behavioural testbench memories of the chip harness (not RTL of the chip). Ref: docs/architecture.md §5, D7.
//
// Python writes whole blocks of work into files and the simulator runs them without waking Python per word, MVM
// or bit-plane: np_cmd_source streams a command program loaded with $readmemh, np_resp_sink captures the chip's
// response words and writes them with $writememh, np_crossbar_mem replays a tile's per-plane integer current codes
// (D3) into its comparators and checks the wordline enables the tile drives against the expected ones.

// Streams words 0 .. count-1 of FILE (loaded, and the stream restarted, in a cycle with `load` high).
module np_cmd_source #(
    parameter integer DEPTH = 131072,
    parameter FILE = "cmd.hex"
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
    initial sent = 0;
    assign valid = !load && sent < count;
    assign data = mem[sent[$clog2(DEPTH)-1:0]];
    always @(posedge clk) begin
        if (load) begin
            // The file holds exactly `count` words; naming the range keeps Icarus from warning about the rest.
            if (count != 0) $readmemh(FILE, mem, 0, count - 1);
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

// One tile's crossbar: on every `pulse` (start of a bit-plane) the next entry of ICODE_FILE (the integer current
// codes of all columns, lane 0 in the low bits) drives `icode` until the next pulse, and the tile's wordline
// enables are compared with the same entry of WL_FILE; `wl_errors` counts the planes that differ, `planes` the
// planes read since the last `load`, `wl_ones` the wordlines the tile drove with a 1 in them (the energy model's
// 1-drives, model/events.py). Both files hold `count` entries (given with `load`).
module np_crossbar_mem #(
    parameter integer ROWS = 256,
    parameter integer COLUMNS = 128,
    parameter integer ICODE_BITS = 18,
    parameter integer DEPTH = 16384,
    parameter ICODE_FILE = "icode.hex",
    parameter WL_FILE = "wl.hex"
) (
    input  wire                          clk,
    input  wire                          load,
    input  wire [31:0]                   count,
    input  wire                          pulse,
    input  wire [ROWS-1:0]               wl,
    output wire [COLUMNS*ICODE_BITS-1:0] icode,
    output reg  [31:0]                   planes,
    output reg  [31:0]                   wl_errors,
    output reg  [31:0]                   wl_ones
);
    reg [COLUMNS*ICODE_BITS-1:0] icodes [0:DEPTH-1];
    reg [ROWS-1:0] wls [0:DEPTH-1];
    reg [COLUMNS*ICODE_BITS-1:0] held;
    wire [$clog2(DEPTH)-1:0] ptr = planes[$clog2(DEPTH)-1:0];
    function [31:0] popcount(input [ROWS-1:0] v);
        integer i;
        begin
            popcount = 0;
            for (i = 0; i < ROWS; i = i + 1) popcount = popcount + {31'd0, v[i]};
        end
    endfunction
    initial begin
        planes = 0;
        wl_errors = 0;
        wl_ones = 0;
        held = 0;
    end
    // The comparators see the new plane from its pulse cycle on (the SAR's first decision ends that cycle).
    assign icode = pulse ? icodes[ptr] : held;
    always @(posedge clk) begin
        if (load) begin
            if (count != 0) begin
                $readmemh(ICODE_FILE, icodes, 0, count - 1);
                $readmemh(WL_FILE, wls, 0, count - 1);
            end
            planes <= 0;
            wl_errors <= 0;
            wl_ones <= 0;
        end else if (pulse) begin
            held <= icodes[ptr];
            planes <= planes + 1;
            wl_ones <= wl_ones + popcount(wl);
            if (planes >= DEPTH || wl !== wls[ptr]) wl_errors <= wl_errors + 1;
        end
    end
endmodule
