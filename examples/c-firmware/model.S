/* The .egru file as a constant array in flash (the runtime reads it in place).
 * EDGEGRU_MODEL is its path, given on the compiler's command line. */
    .section .rodata.egru_model, "a"
    .balign 16
    .global egru_model_start
    .global egru_model_end
egru_model_start:
    .incbin EDGEGRU_MODEL
egru_model_end:

    /* No executable stack. */
    .section .note.GNU-stack, "", %progbits
