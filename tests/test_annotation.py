"""GEO platform annotation files (GPL96.annot layout) name the probes of a real CuMiDa file."""

from __future__ import annotations

import gzip

import pytest

from leukmodel.config import config_from_dict
from leukmodel.data import build_cohort
from leukmodel.errors import ExpressionError

# The head of GEO's GPL96.annot (preamble, then the tab-separated table), with its first five probes.
GPL96_ANNOT = """^Annotation
!Annotation_date = Jun 19 2021
!Annotation_platform = GPL96
!Annotation_platform_title = [HG-U133A] Affymetrix Human Genome U133A Array
!Annotation_platform_organism = Homo sapiens
!Annotation_series_count = 7153
!Annotation_table_begin
ID\tGene title\tGene symbol\tGene ID\tUniGene title
1007_s_at\tdiscoidin domain receptor tyrosine kinase 1///microRNA 4640\tDDR1///MIR4640\t780///100616237\t
1053_at\treplication factor C subunit 2\tRFC2\t5982\t
117_at\theat shock protein family A (Hsp70) member 6\tHSPA6\t3310\t
121_at\tpaired box 8\tPAX8\t7849\t
1255_g_at\tguanylate cyclase activator 1A\tGUCA1A\t2978\t
!Annotation_table_end
"""


@pytest.mark.parametrize("name", ["GPL96.annot", "GPL96.annot.gz"])
def test_geo_annot_file_names_the_probes(tmp_path, cumida_sample, name):
    path = tmp_path / name
    if name.endswith(".gz"):
        with gzip.open(path, "wt") as handle:
            handle.write(GPL96_ANNOT)
    else:
        path.write_text(GPL96_ANNOT)
    config = config_from_dict({"data": {"expression": {"files": [str(cumida_sample)], "annotation": str(path)}}})
    symbols = build_cohort(config).gene_symbols
    assert symbols == {
        "1007_s_at": "DDR1",
        "1053_at": "RFC2",
        "117_at": "HSPA6",
        "121_at": "PAX8",
        "1255_g_at": "GUCA1A",
    }


def test_annotation_without_the_symbol_column_names_the_columns_it_has(tmp_path, cumida_sample):
    path = tmp_path / "GPL96.annot"
    path.write_text(GPL96_ANNOT.replace("Gene symbol", "Symbol"))
    config = config_from_dict({"data": {"expression": {"files": [str(cumida_sample)], "annotation": str(path)}}})
    with pytest.raises(ExpressionError) as err:
        build_cohort(config)
    assert err.value.field == "Gene Symbol" and "columns: ID, Gene title, Symbol" in str(err.value)
    assert err.value.file == str(path)
