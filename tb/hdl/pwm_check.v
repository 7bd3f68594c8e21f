// Behavioural check of a pulse-width-modulated read's wordlines (testbench, not RTL of the chip).
// Ref: docs/architecture.md D8 (the PWM read's timing contract).
//
// A PWM read is a window of WINDOW cycles from the `pulse` cycle on, in which row i must be driven for its first
// width_i cycles (not at all for width 0), then no row until the next pulse. The checker counts every row's driven
// cycles in the window in bit-sliced counters (one ROWS-bit vector per count bit, so a cycle costs WIDTH_BITS vector
// operations however many rows there are), flags a row that rises after the window's first cycle, compares the counts
// with `width` in the window's last cycle, and flags any wordline driven after the window. `errors` counts the reads
// with a violation (in the window, or a wordline after it), `reads` the windows checked. `charging` is high in the
// window's cycles and the cycle after (the conversion's start: a SAR takes its first decision at the end of the next
// cycle, rtl/adc_sar.py): the charge is still integrating or being sampled, so the crossbar stand-in must not yet
// present the read's current code to the comparators; an ADC started inside the window would decide on whatever
// the stand-in presents instead. `clear` zeroes the counts.
// `width` holds the expected widths bit-sliced, LSB first: bits [k*ROWS +: ROWS] are bit k of every row's width.
// Only active with `enable` (the tile reads by PWM).
module np_pwm_check #(
    parameter integer ROWS = 256,
    parameter integer WINDOW = 255,
    parameter integer WIDTH_BITS = 8
) (
    input  wire                       clk,
    input  wire                       clear,
    input  wire                       enable,
    input  wire                       pulse,
    input  wire [ROWS-1:0]            wl,
    input  wire [ROWS*WIDTH_BITS-1:0] width,
    output wire                       charging,
    output reg  [31:0]                reads,
    output reg  [31:0]                errors
);
    reg [ROWS-1:0] count [0:WIDTH_BITS-1];   // bit-sliced driven cycles so far
    reg [ROWS-1:0] fell;                     // rows that have gone low in this window
    reg [31:0] left;                         // window cycles left, the current one included (from the second)
    reg active;                              // in the window's second or later cycle
    reg wrong;                               // a row rose after the window's first cycle, or a count overflowed
    reg flagged;                             // a wordline driven after this read's window has been counted
    reg sampling;                            // the cycle after the window
    reg [ROWS-1:0] carry, sum, base, mismatch;
    integer k;
    initial begin
        reads = 0;
        errors = 0;
        active = 0;
        wrong = 0;
        flagged = 0;
        sampling = 0;
        left = 0;
        fell = 0;
    end
    wire in_window = enable && (pulse || active);
    wire last = (pulse ? WINDOW : left) == 1;
    assign charging = in_window || sampling;
    always @(posedge clk) begin
        sampling <= in_window && last;
        if (in_window) begin
            // One more cycle of the window: counts += wl, in bit slices; compared with `width` in the last cycle.
            carry = wl;
            mismatch = 0;
            for (k = 0; k < WIDTH_BITS; k = k + 1) begin
                base = pulse ? {ROWS{1'b0}} : count[k];
                sum = base ^ carry;
                carry = base & carry;
                count[k] <= sum;
                mismatch = mismatch | (sum ^ width[k*ROWS +: ROWS]);
            end
            wrong <= (!pulse && wrong) || (|carry) || (!pulse && |(wl & fell));
            fell <= pulse ? ~wl : fell | ~wl;
            left <= pulse ? WINDOW - 1 : left - 1;
            active <= !last;
            flagged <= 0;
            if (last) begin
                reads <= reads + 1;
                if (|mismatch || |carry || (!pulse && (wrong || |(wl & fell)))) errors <= errors + 1;
            end
        end else if (enable && !flagged && |wl) begin
            errors <= errors + 1;                // a wordline driven after the window
            flagged <= 1;
        end
        if (clear) begin
            reads <= 0;
            errors <= 0;
        end
    end
endmodule
