// Behavioural comparator bank: the analog side of the SAR ADCs in simulation (not synthesisable RTL of the chip).
// Ref: docs/architecture.md §5 (crossbar stand-in) and decision D3 (integer current code, thresholds, tie rule).
//
// The testbench writes every column's integer current code `icode` once per bit-plane (Python never waits on
// the clock); the SAR controllers drive `dac_code` (offset binary, one per ADC) and, when ADCs are shared,
// `col_sel`; the bank answers combinationally
//     comparator[k] = icode[k * COLUMNS_PER_ADC + col_sel] >= threshold(dac_code[k])
//     threshold(u)  = (u - 2^(B_ADC-1)) * 2^FRAC_BITS - 2^(FRAC_BITS-1)
// exactly model/adc.py sar_threshold: a tie (icode equal to the threshold) compares as 1.
// Buses are packed lane 0 in the least significant bits, as Amaranth's ArrayLayout.
module np_comparator_bank #(
    parameter integer COLUMNS = 128,
    parameter integer COLUMNS_PER_ADC = 1,
    parameter integer B_ADC = 8,
    parameter integer FRAC_BITS = 8,
    parameter integer ICODE_BITS = B_ADC + FRAC_BITS + 2,
    // Width of col_sel: at least 1 so the port exists (tied off) when every ADC has its own column.
    parameter integer SEL_BITS = COLUMNS_PER_ADC > 1 ? $clog2(COLUMNS_PER_ADC) : 1
) (
    input  wire [COLUMNS*ICODE_BITS-1:0]              icode,
    input  wire [(COLUMNS/COLUMNS_PER_ADC)*B_ADC-1:0] dac_code,
    input  wire [SEL_BITS-1:0]                        col_sel,
    output wire [COLUMNS/COLUMNS_PER_ADC-1:0]         comparator
);
    localparam integer N_ADC = COLUMNS / COLUMNS_PER_ADC;
    // Signed width holding every current code and every threshold without overflow.
    localparam integer W = (ICODE_BITS > B_ADC + FRAC_BITS + 1 ? ICODE_BITS : B_ADC + FRAC_BITS + 1) + 1;
    localparam [W-1:0] HALF_LSB = {{(W-FRAC_BITS){1'b0}}, 1'b1, {(FRAC_BITS-1){1'b0}}};
    localparam [W-1:0] MID = {{(W-B_ADC-FRAC_BITS){1'b0}}, 1'b1, {(B_ADC+FRAC_BITS-1){1'b0}}};

    genvar k, c;
    generate
        for (k = 0; k < N_ADC; k = k + 1) begin : adc
            wire [B_ADC-1:0] u = dac_code[k*B_ADC +: B_ADC];
            // (u - 2^(B-1)) * 2^F - 2^(F-1), in W-bit two's complement.
            wire signed [W-1:0] threshold = $signed({{(W-B_ADC-FRAC_BITS){1'b0}}, u, {FRAC_BITS{1'b0}}} - MID - HALF_LSB);
            wire [ICODE_BITS-1:0] group [0:COLUMNS_PER_ADC-1];
            for (c = 0; c < COLUMNS_PER_ADC; c = c + 1) begin : col
                assign group[c] = icode[(k*COLUMNS_PER_ADC + c)*ICODE_BITS +: ICODE_BITS];
            end
            wire [ICODE_BITS-1:0] sel;
            if (COLUMNS_PER_ADC > 1) begin : mux
                assign sel = group[col_sel];
            end else begin : direct
                assign sel = group[0];
            end
            wire signed [W-1:0] current = $signed({{(W-ICODE_BITS){sel[ICODE_BITS-1]}}, sel});
            assign comparator[k] = current >= threshold;
        end
    endgenerate

    // col_sel only steers the mux when ADCs are shared; named *unused* so Verilator's lint accepts it otherwise.
    wire unused_col_sel = ^col_sel;
endmodule
