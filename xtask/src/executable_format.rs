//! Reads the format (ELF, Mach-O, PE) and CPU of an executable from its header, so a sidecar built
//! for the wrong platform never reaches a release.

use std::io::Read;
use std::path::Path;

use anyhow::Context;

use crate::failure::refuse;
use crate::targets::{Arch, Os, Target};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Format {
    Elf,
    MachO,
    Pe,
}

impl Format {
    fn of(os: Os) -> Format {
        match os {
            Os::Linux => Format::Elf,
            Os::MacOs => Format::MachO,
            Os::Windows => Format::Pe,
        }
    }
}

/// What a header says: the format and every architecture in it (a universal Mach-O has several).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identified {
    pub format: Format,
    pub arches: Vec<Arch>,
}

const HEADER_BYTES: u64 = 4096;

/// Identify the file's format and CPU from its first bytes.
pub fn identify(header: &[u8]) -> Option<Identified> {
    let u16_le = |at: usize| header.get(at..at + 2).map(|b| u16::from_le_bytes([b[0], b[1]]));
    let u32_le = |at: usize| header.get(at..at + 4).map(|b| u32::from_le_bytes([b[0], b[1], b[2], b[3]]));
    let u32_be = |at: usize| header.get(at..at + 4).map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]));

    if header.starts_with(b"\x7fELF") {
        // 64-bit (class 2), little-endian (data 1); e_machine at 18.
        if header.get(4) != Some(&2) || header.get(5) != Some(&1) {
            return Some(Identified { format: Format::Elf, arches: vec![] });
        }
        let arches = match u16_le(18)? {
            0x3e => vec![Arch::X86_64],
            0xb7 => vec![Arch::Aarch64],
            _ => vec![],
        };
        return Some(Identified { format: Format::Elf, arches });
    }
    if u32_le(0)? == 0xfeed_facf {
        return Some(Identified { format: Format::MachO, arches: mach_o_arch(u32_le(4)?).into_iter().collect() });
    }
    if u32_be(0)? == 0xcafe_babe {
        // Universal binary: big-endian count, then 20-byte entries starting with the CPU type.
        let count = u32_be(4)? as usize;
        if count == 0 || count > 16 {
            return None; // also the magic of Java class files
        }
        let arches = (0..count).filter_map(|index| u32_be(8 + index * 20).and_then(mach_o_arch)).collect();
        return Some(Identified { format: Format::MachO, arches });
    }
    if header.starts_with(b"MZ") {
        let pe_offset = u32_le(0x3c)? as usize;
        if header.get(pe_offset..pe_offset + 4)? != b"PE\0\0" {
            return None;
        }
        let arches = match u16_le(pe_offset + 4)? {
            0x8664 => vec![Arch::X86_64],
            0xaa64 => vec![Arch::Aarch64],
            _ => vec![],
        };
        return Some(Identified { format: Format::Pe, arches });
    }
    None
}

fn mach_o_arch(cpu_type: u32) -> Option<Arch> {
    match cpu_type {
        0x0100_0007 => Some(Arch::X86_64),
        0x0100_000c => Some(Arch::Aarch64),
        _ => None,
    }
}

/// Check an identified header against the target; the error names what was found.
pub fn check(identified: Option<&Identified>, target: &Target) -> anyhow::Result<()> {
    let expected_format = Format::of(target.os);
    let matches = identified.is_some_and(|id| id.format == expected_format && id.arches.contains(&target.arch));
    if matches {
        return Ok(());
    }
    let found = match identified {
        None => "not an executable format this tool knows".to_string(),
        Some(id) => format!("{:?} for {:?}", id.format, id.arches),
    };
    Err(refuse(
        format!("the binary is {found}, but {} needs {:?} for {:?}", target.triple, expected_format, target.arch),
        "build on a native runner of that triple with a Python of the same architecture",
    ))
}

/// Read the header of a file and check it against the target.
pub fn check_file(path: &Path, target: &Target) -> anyhow::Result<()> {
    let mut header = Vec::new();
    std::fs::File::open(path)
        .and_then(|file| file.take(HEADER_BYTES).read_to_end(&mut header))
        .with_context(|| format!("reading the header of {}", path.display()))?;
    check(identify(&header).as_ref(), target).with_context(|| format!("checking {}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::targets::{SUPPORTED, parse};

    fn elf(machine: u16) -> Vec<u8> {
        let mut header = vec![0u8; 64];
        header[..4].copy_from_slice(b"\x7fELF");
        header[4] = 2;
        header[5] = 1;
        header[18..20].copy_from_slice(&machine.to_le_bytes());
        header
    }

    fn mach_o(cpu: u32) -> Vec<u8> {
        let mut header = vec![0u8; 32];
        header[..4].copy_from_slice(&0xfeed_facf_u32.to_le_bytes());
        header[4..8].copy_from_slice(&cpu.to_le_bytes());
        header
    }

    fn universal(cpus: &[u32]) -> Vec<u8> {
        let mut header = Vec::new();
        header.extend_from_slice(&0xcafe_babe_u32.to_be_bytes());
        header.extend_from_slice(&(cpus.len() as u32).to_be_bytes());
        for cpu in cpus {
            header.extend_from_slice(&cpu.to_be_bytes());
            header.extend_from_slice(&[0u8; 16]);
        }
        header
    }

    fn pe(machine: u16) -> Vec<u8> {
        let mut header = vec![0u8; 0x100];
        header[..2].copy_from_slice(b"MZ");
        header[0x3c..0x40].copy_from_slice(&0x80u32.to_le_bytes());
        header[0x80..0x84].copy_from_slice(b"PE\0\0");
        header[0x84..0x86].copy_from_slice(&machine.to_le_bytes());
        header
    }

    /// The header each supported triple must carry.
    fn header_for(triple: &str) -> Vec<u8> {
        match triple {
            "x86_64-unknown-linux-gnu" => elf(0x3e),
            "aarch64-unknown-linux-gnu" => elf(0xb7),
            "x86_64-apple-darwin" => mach_o(0x0100_0007),
            "aarch64-apple-darwin" => mach_o(0x0100_000c),
            "x86_64-pc-windows-msvc" => pe(0x8664),
            other => panic!("no fixture for {other}"),
        }
    }

    #[test]
    fn each_triple_accepts_its_own_header_and_refuses_the_others() {
        for target in &SUPPORTED {
            for other in &SUPPORTED {
                let verdict = check(identify(&header_for(other.triple)).as_ref(), target);
                assert_eq!(verdict.is_ok(), target == other, "{} header checked as {}", other.triple, target.triple);
            }
        }
    }

    #[test]
    fn universal_mach_o_passes_for_each_contained_arch() {
        let header = universal(&[0x0100_0007, 0x0100_000c]);
        assert!(check(identify(&header).as_ref(), parse("x86_64-apple-darwin").unwrap()).is_ok());
        assert!(check(identify(&header).as_ref(), parse("aarch64-apple-darwin").unwrap()).is_ok());
        let arm_only = universal(&[0x0100_000c]);
        assert!(check(identify(&arm_only).as_ref(), parse("x86_64-apple-darwin").unwrap()).is_err());
    }

    #[test]
    fn unknown_and_truncated_files_are_refused_with_what_was_found() {
        let linux = parse("x86_64-unknown-linux-gnu").unwrap();
        for garbage in [&b"#!/bin/sh\necho hi\n"[..], b"", b"\x7fEL", b"MZ"] {
            let error = check(identify(garbage).as_ref(), linux).unwrap_err();
            assert!(crate::failure::lines(&error).message.contains("not an executable format"), "{garbage:?}");
        }
        let error = check(identify(&elf(0x28)).as_ref(), linux).unwrap_err();
        assert!(crate::failure::lines(&error).message.contains("Elf for []"));
        let mut elf32 = elf(0x3e);
        elf32[4] = 1;
        assert!(check(identify(&elf32).as_ref(), linux).is_err());
    }

    #[cfg(all(target_os = "linux", target_arch = "x86_64"))]
    #[test]
    fn the_running_test_binary_is_a_host_executable() {
        let current = std::env::current_exe().unwrap();
        check_file(&current, crate::targets::host().unwrap()).unwrap();
    }
}
