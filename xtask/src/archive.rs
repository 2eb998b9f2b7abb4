//! Deterministic release archives: `.tar.gz` (ustar, written by hand) and `.zip`, one entry per
//! file, sorted by name, with a fixed timestamp, owner and mode, so equal inputs give equal bytes.

use std::io::Write;

use anyhow::Context;
use flate2::{Compression, GzBuilder};

use crate::clock;

/// A file to put in an archive.
pub struct Entry<'a> {
    pub name: &'a str,
    pub contents: &'a [u8],
    pub mode: u32,
}

const BLOCK: usize = 512;

/// Deflate level of both formats: 1, miniz_oxide's fast path. A sidecar is a PyInstaller one-file
/// executable whose payload is already zlib-compressed, so a higher level saves almost nothing
/// (measured by `cargo xtask bench`: within 0.3% of `gzip -6`'s size at about a seventh of its CPU;
/// level 9 took seven times as long for 0.2% less). Input that compresses well would come out about
/// a quarter larger than with `gzip -6`.
const DEFLATE_LEVEL: u32 = 1;

/// The formats a release archives a binary in: `.tar.gz`, and `.zip` for Windows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ArchiveFormat {
    TarGz,
    Zip,
}

impl ArchiveFormat {
    pub const ALL: [ArchiveFormat; 2] = [ArchiveFormat::TarGz, ArchiveFormat::Zip];

    /// The file name extension, without its dot.
    pub fn extension(self) -> &'static str {
        match self {
            ArchiveFormat::TarGz => "tar.gz",
            ArchiveFormat::Zip => "zip",
        }
    }

    /// The format of a file named `*.tar.gz` or `*.zip`; `None` for any other name.
    pub fn of_file_name(name: &str) -> Option<ArchiveFormat> {
        ArchiveFormat::ALL
            .into_iter()
            .find(|format| name.strip_suffix(format.extension()).is_some_and(|stem| stem.ends_with('.')))
    }
}

/// On the command line (`cargo xtask archive --format`) a format is named by its extension.
impl clap::ValueEnum for ArchiveFormat {
    fn value_variants<'a>() -> &'a [Self] {
        &ArchiveFormat::ALL
    }

    fn to_possible_value(&self) -> Option<clap::builder::PossibleValue> {
        Some(clap::builder::PossibleValue::new(self.extension()))
    }
}

/// `entries` in an archive of `format`, every entry stamped `mtime`.
pub fn pack(format: ArchiveFormat, entries: &mut [Entry<'_>], mtime: i64) -> anyhow::Result<Vec<u8>> {
    match format {
        ArchiveFormat::TarGz => tar_gz(entries, mtime),
        ArchiveFormat::Zip => zip(entries, mtime),
    }
}

/// A gzip-compressed ustar archive: uid/gid 0, owner names empty, every mtime `mtime`, a gzip
/// header without file name or timestamp.
pub fn tar_gz(entries: &mut [Entry<'_>], mtime: i64) -> anyhow::Result<Vec<u8>> {
    entries.sort_by(|a, b| a.name.cmp(b.name));
    let mut tar = Vec::new();
    for entry in entries.iter() {
        tar.extend_from_slice(&ustar_header(entry, mtime)?);
        tar.extend_from_slice(entry.contents);
        tar.resize(tar.len().next_multiple_of(BLOCK), 0);
    }
    // Two zero blocks end the archive.
    tar.resize(tar.len() + 2 * BLOCK, 0);
    let mut encoder =
        GzBuilder::new().mtime(0).operating_system(255).write(Vec::new(), Compression::new(DEFLATE_LEVEL));
    encoder.write_all(&tar)?;
    Ok(encoder.finish()?)
}

fn ustar_header(entry: &Entry<'_>, mtime: i64) -> anyhow::Result<[u8; BLOCK]> {
    let mut header = [0u8; BLOCK];
    let name = entry.name.as_bytes();
    anyhow::ensure!(!name.is_empty() && name.len() <= 100, "archive entry name {:?} must be 1-100 bytes", entry.name);
    header[..name.len()].copy_from_slice(name);
    write_octal(&mut header[100..108], u64::from(entry.mode & 0o7777))?;
    write_octal(&mut header[108..116], 0)?; // uid
    write_octal(&mut header[116..124], 0)?; // gid
    write_octal(&mut header[124..136], entry.contents.len() as u64)?;
    write_octal(&mut header[136..148], mtime.max(0) as u64)?;
    header[156] = b'0'; // regular file
    header[257..263].copy_from_slice(b"ustar\0");
    header[263..265].copy_from_slice(b"00");
    // The checksum is computed with its own field read as spaces.
    header[148..156].fill(b' ');
    let checksum: u32 = header.iter().map(|byte| u32::from(*byte)).sum();
    header[148..154].copy_from_slice(format!("{checksum:06o}").as_bytes());
    header[154] = 0;
    header[155] = b' ';
    Ok(header)
}

/// Zero-padded octal, NUL-terminated, filling the field.
fn write_octal(field: &mut [u8], value: u64) -> anyhow::Result<()> {
    let digits = field.len() - 1;
    let text = format!("{value:0digits$o}");
    anyhow::ensure!(text.len() == digits, "{value} does not fit a {digits}-digit tar field");
    field[..digits].copy_from_slice(text.as_bytes());
    field[digits] = 0;
    Ok(())
}

/// A deflated zip with every entry stamped `mtime` (clamped to 1980, DOS time's first year).
pub fn zip(entries: &mut [Entry<'_>], mtime: i64) -> anyhow::Result<Vec<u8>> {
    entries.sort_by(|a, b| a.name.cmp(b.name));
    let t = clock::utc_from_unix(mtime.max(315_532_800));
    let timestamp = zip::DateTime::from_date_and_time(
        u16::try_from(t.year.min(2107)).unwrap_or(2107),
        t.month as u8,
        t.day as u8,
        t.hour as u8,
        t.minute as u8,
        t.second as u8,
    )
    .map_err(|_| anyhow::anyhow!("cannot express {mtime} as a zip timestamp"))?;
    let mut writer = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for entry in entries.iter() {
        let options = zip::write::SimpleFileOptions::default()
            .compression_method(zip::CompressionMethod::Deflated)
            .compression_level(Some(i64::from(DEFLATE_LEVEL)))
            .last_modified_time(timestamp)
            .unix_permissions(entry.mode);
        writer.start_file(entry.name, options).with_context(|| format!("adding {} to a zip", entry.name))?;
        writer.write_all(entry.contents)?;
    }
    Ok(writer.finish().context("finishing a zip")?.into_inner())
}

#[cfg(test)]
mod tests {
    use std::io::Read;

    use super::*;

    fn sample_entries<'a>(payload: &'a [u8]) -> Vec<Entry<'a>> {
        vec![
            Entry { name: "zeta", contents: b"z", mode: 0o644 },
            Entry { name: "lumen-argus", contents: payload, mode: 0o755 },
        ]
    }

    fn unpack_tar(gz: &[u8]) -> Vec<u8> {
        let mut tar = Vec::new();
        flate2::read::GzDecoder::new(gz).read_to_end(&mut tar).unwrap();
        tar
    }

    #[test]
    fn tar_gz_is_byte_identical_for_equal_inputs_in_any_order() {
        let payload: Vec<u8> = (0..5000u32).map(|i| (i * 7 % 256) as u8).collect();
        let first = tar_gz(&mut sample_entries(&payload), 1_700_000_000).unwrap();
        let mut reversed = sample_entries(&payload);
        reversed.reverse();
        let second = tar_gz(&mut reversed, 1_700_000_000).unwrap();
        assert_eq!(first, second);
        // gzip header: magic, deflate, no flags, mtime 0, XFL 4 (fastest level), OS 255 (unknown).
        assert_eq!(&first[..10], &[0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 4, 255]);
        assert_ne!(first, tar_gz(&mut sample_entries(&payload), 1_700_000_001).unwrap());
    }

    #[test]
    fn tar_entries_are_sorted_with_fixed_owner_mode_and_time() {
        let payload = vec![42u8; 700];
        let tar = unpack_tar(&tar_gz(&mut sample_entries(&payload), 1_700_000_000).unwrap());
        assert_eq!(&tar[..11], b"lumen-argus");
        assert_eq!(&tar[100..107], b"0000755");
        assert_eq!(&tar[108..115], b"0000000");
        assert_eq!(&tar[116..123], b"0000000");
        assert_eq!(&tar[124..135], format!("{:011o}", 700).as_bytes());
        assert_eq!(&tar[136..147], format!("{:011o}", 1_700_000_000).as_bytes());
        assert_eq!(&tar[512..512 + 700], &payload[..]);
        // Second entry starts after the padded first file.
        assert_eq!(&tar[512 + 1024..512 + 1024 + 4], b"zeta");
        assert_eq!(tar.len(), 512 + 1024 + 512 + 512 + 1024);
    }

    /// The system's tar (every Unix has one) extracts what we wrote, with the mode kept.
    #[cfg(unix)]
    #[test]
    fn system_tar_reads_the_archive() {
        use std::os::unix::fs::PermissionsExt;
        let folder = tempfile::tempdir().unwrap();
        let archive = folder.path().join("a.tar.gz");
        std::fs::write(&archive, tar_gz(&mut sample_entries(b"#!/bin/sh\n"), 1_700_000_000).unwrap()).unwrap();
        let sh = crate::process::shell_in(folder.path()).unwrap();
        crate::process::read(xshell::cmd!(sh, "tar -xzf {archive}")).expect("tar is required on Unix");
        let extracted = folder.path().join("lumen-argus");
        assert_eq!(std::fs::read(&extracted).unwrap(), b"#!/bin/sh\n");
        assert_eq!(std::fs::metadata(&extracted).unwrap().permissions().mode() & 0o777, 0o755);
    }

    #[test]
    fn zip_is_byte_identical_and_readable() {
        let payload = vec![7u8; 4096];
        let first = zip(&mut sample_entries(&payload), 1_700_000_000).unwrap();
        let mut reversed = sample_entries(&payload);
        reversed.reverse();
        assert_eq!(first, zip(&mut reversed, 1_700_000_000).unwrap());
        let mut reader = zip::ZipArchive::new(std::io::Cursor::new(first)).unwrap();
        assert_eq!(reader.len(), 2);
        let mut entry = reader.by_index(0).unwrap();
        assert_eq!(entry.name(), "lumen-argus");
        assert_eq!(entry.unix_mode().map(|mode| mode & 0o777), Some(0o755));
        let mut contents = Vec::new();
        entry.read_to_end(&mut contents).unwrap();
        assert_eq!(contents, payload);
    }
}
