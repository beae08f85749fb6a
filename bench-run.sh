#!/bin/bash
cd /work/main
build/tests/vpio_kvm_tests --gtest_filter='ExchangeTest.*ByInterrupt' --gtest_repeat=3 2>&1 | grep -E "OK \]|FAILED|Failure|actual" > /tmp/irq2.log
build/benchmarks/bench_nic_modes > /tmp/bench.md 2> /tmp/bench.err
