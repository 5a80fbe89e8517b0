//! Benchmark of segment counting over GSM-7, UCS-2 and escape-heavy texts of two to four
//! segments. Run with `cargo bench -p smsnode-sms --bench segments`.

use std::time::Instant;

fn main() {
    let texts = [
        "Hi Dana, your appointment is confirmed for Tuesday at 3:00 PM. Reply STOP to opt out.".repeat(3),
        "Ça va? Votre rendez-vous est confirmé pour mardi à 15 h. 😀".repeat(4),
        "€ [x] {y} ~z~ |w| ^v^ \\u\\".repeat(10),
    ];
    let iterations = 300_000;
    let characters: usize = texts.iter().map(|text| text.chars().count()).sum::<usize>() * iterations / texts.len();

    let started = Instant::now();
    let mut segments = 0u64;
    for index in 0..iterations {
        segments += u64::from(smsnode_sms::segments::count(std::hint::black_box(&texts[index % texts.len()])).segments);
    }
    let elapsed = started.elapsed();

    println!(
        "segments::count: {iterations} texts in {:.0} ms, {:.2} µs per text, {:.0} ns per character ({segments} segments)",
        elapsed.as_secs_f64() * 1e3,
        elapsed.as_secs_f64() * 1e6 / iterations as f64,
        elapsed.as_secs_f64() * 1e9 / characters as f64,
    );
}
