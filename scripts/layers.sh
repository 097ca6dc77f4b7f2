#!/usr/bin/env bash
# Checks the analyzer's folder layering (docs/architecture.md, "Dependencies", the
# analyzer folders picture): lists, for each folder of analyzer-cli/src, the other
# folders its code names (`crate::<folder>`, `use crate::{<folder>::..., ...}` groups,
# and `super::super::...` paths that climb to the crate root), and fails if a folder
# uses one the picture does not let it reach, if the leaves (`ids`, `error`) use a
# folder, or if the uses form a cycle. Doc links count: they name the module too.
#
# Usage: scripts/layers.sh [path/to/analyzer-cli/src]   (exit 0 ok, 1 violation)
set -euo pipefail

root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
src="${1:-$root/analyzer-cli/src}"

# The arrows of the picture: "a:b" means folder a may use folder b. A folder may use
# everything reachable along the arrows; nothing else.
ALLOWED="cmd:gate cmd:report report:analysis report:symbols analysis:replay analysis:symbols replay:trace symbols:trace"
# Modules every folder may use, which use no folder themselves.
LEAVES="ids error"

exec perl -e '
use strict; use warnings;
use File::Find;
my ($src, $allowed, $leaves) = @ARGV;
opendir(my $dh, $src) or die "layers.sh: cannot read $src: $!\n";
my @folders = sort grep { -d "$src/$_" && !/^\./ } readdir($dh);
closedir($dh);
my %folder = map { $_ => 1 } @folders;
my %leaf = map { $_ => 1 } split " ", $leaves;
my %edge;
for (split " ", $allowed) {
    my ($a, $b) = split /:/;
    die "layers.sh: the allowed order names $_, which is not a folder of $src\n"
        unless $folder{$a} && $folder{$b};
    push @{ $edge{$a} }, $b;
}
# Reachable along the arrows.
my %may;
for my $f (@folders) {
    my @todo = @{ $edge{$f} || [] };
    while (defined(my $g = shift @todo)) {
        next if $may{$f}{$g}++;
        push @todo, @{ $edge{$g} || [] };
    }
}

# uses{from}{to} = first place seen ("file:line").
my %uses;
sub note { my ($from, $to, $where) = @_; $uses{$from}{$to} //= $where if $from ne $to; }

sub scan {
    my ($file, $owner, @module) = @_;
    open(my $fh, "<", $file) or die "layers.sh: $file: $!\n";
    my $text = do { local $/; <$fh> };
    close $fh;
    my @lines = split /\n/, $text, -1;
    # Inline modules (`mod tests { ... }`) add a level that `super` climbs out of.
    my ($depth, @inline) = (0);
    my $group_until = -1;
    for my $i (0 .. $#lines) {
        my $line = $lines[$i];
        my $where = "$file:" . ($i + 1);
        $where =~ s/^\Q$src\E\///;
        my @path = (@module, map { $_->[0] } @inline);
        # crate::name, not followed by a brace group
        while ($line =~ /\bcrate::([a-z_][a-z0-9_]*)/g) {
            my $to = $1;
            note($owner, $to, $where) if $folder{$to} || $leaf{$to};
        }
        # use crate::{a::..., b, ...} (possibly over several lines)
        while ($line =~ /\bcrate::\{/g) {
            my $start = pos($line);
            my $rest = join("\n", substr($line, $start), @lines[$i + 1 .. $#lines]);
            my ($level, $item, @top) = (1, "");
            for my $ch (split //, $rest) {
                if ($ch eq "{") { $level++; }
                elsif ($ch eq "}") { $level--; last if $level == 0; }
                elsif ($ch eq "," && $level == 1) { push @top, $item; $item = ""; next; }
                $item .= $ch if $level >= 1;
            }
            push @top, $item;
            for (@top) {
                next unless /^\s*([a-z_][a-z0-9_]*)/;
                note($owner, $1, $where) if $folder{$1} || $leaf{$1};
            }
        }
        # super::super::name: resolve against the module path.
        while ($line =~ /\b((?:super::)+)([a-z_][a-z0-9_]*)/g) {
            my ($chain, $name) = ($1, $2);
            my $climb = () = $chain =~ /super::/g;
            if ($climb == @path) {
                note($owner, $name, $where) if $folder{$name} || $leaf{$name};
            } elsif ($climb > @path) {
                die "layers.sh: $where climbs above the crate root\n";
            }
        }
        # Track inline modules by brace depth.
        my $code = $line;
        $code =~ s{//.*$}{};
        $code =~ s/"(?:[^"\\]|\\.)*"//g;
        $code =~ s/\x27(?:[^\x27\\]|\\.)\x27//g;
        if ($code =~ /^\s*(?:pub(?:\([^)]*\))?\s+)?mod\s+([a-z_][a-z0-9_]*)\s*\{/) {
            push @inline, [$1, $depth];
        }
        for my $ch (split //, $code) {
            if ($ch eq "{") { $depth++; }
            elsif ($ch eq "}") {
                $depth--;
                pop @inline while @inline && $inline[-1][1] >= $depth;
            }
        }
    }
}

my @files;
find({ no_chdir => 1, wanted => sub { push @files, $File::Find::name if /\.rs$/ } }, $src);
for my $file (sort @files) {
    (my $rel = $file) =~ s/^\Q$src\E\///;
    (my $mod = $rel) =~ s/\.rs$//;
    my @module = split m{/}, $mod;
    pop @module if $module[-1] eq "mod";
    next if !@module || $module[0] eq "lib" || $module[0] eq "main";
    my $owner = $module[0];
    next unless $folder{$owner} || $leaf{$owner};
    scan($file, $owner, @module);
}

my @bad;
for my $f (@folders) {
    my @to = sort grep { $folder{$_} } keys %{ $uses{$f} || {} };
    my @marked = map { ($may{$f}{$_}) ? $_ : "$_ (NOT ALLOWED)" } @to;
    printf "%-9s -> %s\n", $f, @marked ? join(", ", @marked) : "(no other folder)";
    push @bad, "$f uses $_ ($uses{$f}{$_}), against the order" for grep { !$may{$f}{$_} } @to;
}
for my $l (sort keys %leaf) {
    my @to = sort grep { $folder{$_} } keys %{ $uses{$l} || {} };
    printf "%-9s -> %s\n", "$l (leaf)", @to ? join(", ", @to) . " (NOT ALLOWED)" : "(no folder)";
    push @bad, "leaf $l uses $_ ($uses{$l}{$_})" for @to;
}
# Cycles among the uses actually found (folders only).
my (%state, @stack, @cycles);
sub visit {
    my ($f) = @_;
    $state{$f} = 1; push @stack, $f;
    for my $g (sort grep { $folder{$_} } keys %{ $uses{$f} || {} }) {
        if (($state{$g} // 0) == 1) {
            my @at = @stack; shift @at while $at[0] ne $g;
            push @cycles, join(" -> ", @at, $g);
        } elsif (!$state{$g}) { visit($g); }
    }
    pop @stack; $state{$f} = 2;
}
visit($_) for grep { !$state{$_} } @folders;
push @bad, "cycle: $_" for @cycles;

my $order = join(" ", map { s/:/->/r } split " ", $allowed);
if (@bad) {
    print "\nlayers.sh: FAILED (allowed arrows: $order)\n";
    print "  $_\n" for @bad;
    exit 1;
}
print "\nlayers.sh: ok, every use follows the allowed arrows ($order); no cycle\n";
' "$src" "$ALLOWED" "$LEAVES"
