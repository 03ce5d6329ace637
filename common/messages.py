"""Every message intake gives a department, in English and Chinese: one catalogue.

A clerk reads these on the receipt, in the portal and in `citycheck ingest`: why a file was
refused, why a record was rejected, what a layout row was taken for. Each message has an
English and a Chinese text, with the same named fields; `say(key, **fields)` gives both,
English first (the receipts put Chinese beside English everywhere). `tests/test_messages.py`
renders every message of the catalogue and checks that intake raises and rejects only with
messages from here.

SQL that writes a reason (extract/verdicts.py) takes a message with `sql_format`: the text with
each field as `{}` for DuckDB's format(), and the fields in that order.
"""
from __future__ import annotations

import re
import string

# key -> (English, Chinese); fields in braces, the same in both
MESSAGES: dict[str, tuple[str, str]] = {
    # -- the file as a whole ---------------------------------------------------------------
    "unsupported_type": (
        "unsupported file type '{suffix}': send .xlsx, .xls or .csv",
        "不支持的文件类型“{suffix}”：请报送 .xlsx、.xls 或 .csv 文件"),
    "encrypted_workbook": (
        "the workbook is password-protected (encrypted); remove the password in Excel (File > "
        "Info > Protect Workbook) and send it again",
        "工作簿设有密码（已加密）：请在 Excel 中取消密码后重新报送"),
    "csv_binary": (
        "the .csv file is binary, not text (a workbook renamed to .csv?); save it as CSV or "
        "send the .xlsx itself",
        "该 .csv 文件不是文本（是否把工作簿改名为 .csv？）：请另存为 CSV，或直接报送 .xlsx 文件"),
    "csv_encoding": (
        "the .csv file is neither UTF-8 nor GBK/GB18030 text; save it as 'CSV UTF-8'",
        "该 .csv 文件既不是 UTF-8 也不是 GBK/GB18030 编码：请另存为“CSV UTF-8”"),
    "csv_unreadable": (
        "the .csv file cannot be read as CSV ({error}); save it again as 'CSV UTF-8'",
        "该 .csv 文件无法按 CSV 读取（{error}）：请重新另存为“CSV UTF-8”"),
    "xls_encrypted": (
        "the legacy .xls workbook cannot be opened ({error}); remove the password in Excel and "
        "send it again",
        "旧版 .xls 工作簿无法打开（{error}）：请在 Excel 中取消密码后重新报送"),
    "xls_unopenable": (
        "the legacy .xls workbook cannot be opened ({error}); save it again as .xlsx",
        "旧版 .xls 工作簿无法打开（{error}）：请另存为 .xlsx 后重新报送"),
    "xls_damaged": (
        "the legacy .xls workbook is damaged ({error}); save it again as .xlsx",
        "旧版 .xls 工作簿已损坏（{error}）：请另存为 .xlsx 后重新报送"),
    "shared_strings_too_large": (
        "the workbook's text (its shared strings) expands to more than {limit} bytes; it was "
        "not read (the reader would hold all of it in memory). Send only the table, without "
        "long texts",
        "工作簿的文本（共享字符串）解压后超过 {limit} 字节，未予读取（读取时需全部载入内存）。"
        "请只报送数据表，不含大段文字"),
    "unpacked_too_large": (
        "the workbook expands to more than {limit} bytes when unpacked (a 'zip bomb', or a far "
        "too large sheet); it was not read. Send a normal workbook with only the table",
        "工作簿解压后超过 {limit} 字节（可能是“压缩炸弹”或工作表过大），未予读"
        "取：请只报送含数据表的普通工作簿"),
    "declared_too_large": (
        "the workbook declares {declared} bytes when unpacked, over the limit of {limit} (a "
        "'zip bomb', or a far too large sheet); it was not read. Send a normal workbook with "
        "only the table",
        "工作簿声明解压后为 {declared} 字节，超过上限 {limit}（可能是“压缩炸弹”"
        "或工作表过大），未予读取：请只报送含数据表的普通工作簿"),
    "part_doctype": (
        "part {part} declares a document type or entities, which no real workbook does; refused",
        "工作簿部件 {part} 声明了文档类型或实体，正常工作簿不会如此，已拒收"),
    "part_invalid_xml": (
        "part {part} of the workbook is not valid XML ({error}); save the file again from Excel "
        "as .xlsx",
        "工作簿部件 {part} 不是有效的 XML（{error}）：请在 Excel 中重新另存为 .xlsx"),
    "part_damaged": (
        "part {part} of the workbook is damaged ({error}); save the file again from Excel as "
        ".xlsx",
        "工作簿部件 {part} 已损坏（{error}）：请在 Excel 中重新另存为 .xlsx"),
    "zip_not_workbook": (
        "the file is a zip archive but not an Excel workbook (no {missing}); save it from Excel "
        "as .xlsx",
        "该文件是压缩包而不是 Excel 工作簿（缺少 {missing}）：请在 Excel 中另存为 .xlsx"),
    "not_a_zip": (
        "the file is not a valid .xlsx workbook (it is not a zip package); save it again from "
        "Excel as .xlsx",
        "该文件不是有效的 .xlsx 工作簿（不是 zip 包）：请在 Excel 中重新另存为 .xlsx"),
    "workbook_unreadable": (
        "the workbook cannot be read ({error}); save it again from Excel as .xlsx",
        "工作簿无法读取（{error}）：请在 Excel 中重新另存为 .xlsx"),
    "sheet_unreadable": (
        "sheet '{sheet}' cannot be read ({error}); save the file again from Excel as .xlsx",
        "工作表“{sheet}”无法读取（{error}）：请在 Excel 中重新另存为 .xlsx"),
    "file_too_large": (
        "the file is {size} bytes, over the limit of {limit}; it was not read. Split it by year "
        "or district",
        "文件大小 {size} 字节，超过上限 {limit}，未予读取：请按年度或区县拆分后报送"),
    "file_empty": (
        "the file is empty: nothing to read. Send the filled-in template",
        "文件为空，无可读取内容：请报送填好的模板"),
    "no_table": (
        "no data table found: no row has the columns 指标代码/指标名称 (indicator) with "
        "区县代码/区县名称 (district) and 数值 (value), nor an indicator column with district names "
        "as column headings (wide layout); see docs/submission-format.md, or start from "
        "`citycheck template`",
        "未找到数据表：没有一行包含指标代码/指标名称、区县代码/区县名称和数值三"
        "列，也没有以区县名称为列标题的指标表；"
        "请使用填报模板"),
    "no_department": (
        "the department is not stated: add a row '填报部门 Department' above the table, or name "
        "the file CITY_DEPARTMENT_YEAR.xlsx",
        "未写明填报部门：请在表格上方加一行“填报部门”，或将文件命名为 城市代码_部门代码_年度.xlsx"),
    "unknown_department": (
        "unknown department '{department}'; known codes: {known}",
        "未知的部门“{department}”：请写部门代码或正式名称（{known}）"),
    "unknown_city": (
        "unknown or missing city '{city}': add a row '城市 City' with one of {known}",
        "城市“{city}”未知或缺失：请在表格上方加一行“城市”，填写 {known} 之一"),
    "no_year": (
        "the reporting year is missing or unreadable ('{year}'): add a row '年度 Year' such as "
        "2023",
        "报送年度缺失或无法识别（“{year}”）：请在表格上方加一行“年度”，如 2023"),
    "nothing_filled": (
        "no value was filled in: all {records} value cells are empty — did you send the blank "
        "template? Fill in the 数值 (value) column, writing — where there is no figure, and send "
        "the file again",
        "未填写任何数值（{records} 个数值单元格均为空）：是否误报了空白模板？请"
        "填写“数值”列，无数据处写“—”后重新报送"),
    "stated_twice": (
        "the {what} is stated twice and differently: the file's header says '{header}', the "
        "sender (command line or portal account) says '{sender}'; correct the one that is wrong "
        "and send the file again",
        "{what_zh}不一致：文件表头为“{header}”，报送方（命令行或门户账号）为“{sender}”：请改正后重新报送"),
    "name_disagrees": (
        "{what}: the file name says '{named}', {source} says '{winner}'; {source} decides "
        "(file names are often copied from last year's file)",
        "{what_zh}：文件名为“{named}”，{source_zh}为“{winner}”，以{source_zh}为准（文件名常沿用上年）"),
    "duplicate_file": (
        "identical to '{name}' received {received} (status {status}); nothing was loaded again",
        "与 {received} 收到的“{name}”完全相同（状态 {status}），未重复入库"),
    "duplicate_file_superseded": (
        "{count} of its values have since been replaced by later files (the newest: '{newest}', "
        "received {newest_at}): those stand",
        "其中 {count} 项数值已被之后报送的文件更正（最新为 {newest_at} 收到的“{"
        "newest}”），以更正后的数值为准"),
    "inbox_settling": (
        "the file changed less than {seconds} seconds ago (still being copied?): left in the "
        "inbox, taken in once it has stopped changing",
        "文件在 {seconds} 秒内仍有改动（可能仍在复制）：暂留收件箱，待不再变化后接收"),
    "inbox_changing": (
        "the file changed while it was being read (still being copied?): left in the inbox for "
        "the next run",
        "读取过程中文件发生变化（可能仍在复制）：暂留收件箱，下次再接收"),
    "inbox_taken_elsewhere": (
        "another intake is taking this file in at the same moment: left to it",
        "另一接收进程正在处理该文件，由其处理"),
    "upload_lost": (
        "the uploaded file was lost before it could be read (the portal stopped): please "
        "upload it again",
        "上传的文件在读取前丢失（门户曾中断）：请重新上传"),
    "inbox_gone": ("the file left the inbox before it could be read (another intake took it)",
                   "文件在读取前已离开收件箱（已由另一接收进程处理）"),
    "resent_after_refusal": (
        "the same file was sent before as '{name}' ({received}) and not all of it was "
        "accepted then; read again now",
        "同一文件此前以“{name}”报送（{received}），当时未被全部接收；现重新读取"),
    "template_nothing_owed": (
        "department '{department}' answers for no indicator of city {city}'s programme in "
        "{year} (seeds/framework_items.csv)",
        "部门“{department}”在 {year} 年不负责城市 {city} 报送计划中的任何指标"),
    # -- the portal's checks of an upload ----------------------------------------------------
    "upload_type": (
        "{name}: only .xlsx, .xls and .csv files are taken (this is '{suffix}')",
        "{name}：只接收 .xlsx、.xls 和 .csv 文件（此文件为“{suffix}”）"),
    "upload_empty": ("{name}: the file is empty", "{name}：文件为空"),
    "upload_not_xlsx": (
        "{name}: this is not an Excel .xlsx workbook (its content is another kind of file)",
        "{name}：不是 Excel .xlsx 工作簿（内容为其他类型的文件）"),
    "upload_not_xls": (
        "{name}: this is not an Excel .xls workbook (its content is another kind of file)",
        "{name}：不是 Excel .xls 工作簿（内容为其他类型的文件）"),
    "upload_csv_binary": ("{name}: this .csv is not text (a workbook renamed to .csv?)",
                          "{name}：该 .csv 不是文本（是否把工作簿改名为 .csv？）"),
    "upload_csv_encoding": ("{name}: this .csv is neither UTF-8 nor GBK text",
                            "{name}：该 .csv 既不是 UTF-8 也不是 GBK 编码"),
    "upload_too_large": ("{name}: larger than {limit} bytes; split it by year or district",
                         "{name}：超过 {limit} 字节，请按年度或区县拆分"),
    "upload_name_unreadable": (
        "a file name with control characters ({name}): rename the file and send it again",
        "文件名含有控制字符（{name}），请重命名后重新上传"),
    "upload_name_too_long": (
        "{name}: a file name longer than {limit} characters; shorten it and send it again",
        "{name}：文件名超过 {limit} 个字符，请缩短后重新上传"),
    "too_many_rows": (
        "the file holds {rows} rows, more than the {limit} one department file may hold; it "
        "was not read. Send one department's figures for one year, or split the file by year "
        "or district",
        "文件共有 {rows} 行，超过单个部门文件上限 {limit} 行，未予读取。请按部门、年度报送，"
        "或按年度、区县拆分"),
    "upload_too_many": ("at most {count} files at a time; send the rest in another upload",
                        "每次最多上传 {count} 个文件，其余请分次上传"),
    # -- blocks of a workbook ----------------------------------------------------------------
    "reference_sheet": (
        "sheet '{sheet}' is titled as reference ('{marker}'): not a submission, its cells are "
        "not read",
        "工作表“{sheet}”标为参考（“{marker}”），不是报送数据，未读取"),
    "reference_block": (
        "the table under '{title}' (row {row}) is titled as reference ('{marker}'): not a "
        "submission, its cells are not read",
        "第 {row} 行“{title}”下的表格标为参考（“{marker}”），不是报送数据，未读取"),
    "block_year_unclear": (
        "the table at {sheet}!{cell} states no year of its own: the year above another table "
        "does not carry over. Add a row '年度 Year' above it, or a 年度 column",
        "{sheet}!{cell} 处的表格未写明自己的年度（其他表格上方的年度不适用）："
        "请在其上方加一行“年度”，或增加“年度”列"),
    "block_year_disagrees": (
        "the table at {sheet}!{cell} is for {block_year}, the sender says the file is for "
        "{sender_year}; send each year's figures in a file of its own, or correct the year",
        "{sheet}!{cell} 处的表格年度为 {block_year}，报送方写明文件年度为 {send"
        "er_year}：请按年度分别报送或改正年度"),
    "block_meta_disagrees": (
        "the table at {sheet}!{cell} is headed {what} '{stated}', the file is {what} "
        "'{file_value}'; one file holds one department's figures for one city",
        "{sheet}!{cell} 处表格的{what_zh}为“{stated}”，与文件的“{file_value}”不"
        "一致：一个文件只能报送一个部门、一个城市的数据"),
    "figure_not_read": (
        "a figure outside any table the reader recognises ({where}): it was not read. Put it in "
        "the table, or delete it",
        "数字“{text}”不在可识别的表格内（{where}），未读取：请填入表格，或删除"),
    # -- layout -------------------------------------------------------------------------------
    "layout_blank": ("blank row", "空行"),
    "layout_title": ("title or header block", "标题或表头信息"),
    "layout_header": ("column header", "列标题"),
    "layout_column_not_read": (
        "column not read: '{text}' (layout: its cells are not figures citycheck takes)",
        "未读取的列“{text}”（版式列，其内容不作为数据）"),
    "layout_footer": ("footer: {text}", "表尾：{text}"),
    "layout_wide_totals": (
        "totals row (a wide table's rows are different indicators: not checked)",
        "合计行（横表各行为不同指标，不核对）"),
    "layout_no_table": ("sheet has no data table", "该工作表没有数据表"),
    "layout_hidden_no_table": ("hidden sheet with no data table", "隐藏的工作表，没有数据表"),
    "layout_meta": ("header block: {field}", "表头信息：{field}"),
    "stray_cell": (
        "a filled cell in a column without a heading: it was not read; give its column a "
        "heading the layout reads, or clear it",
        "该列无表头，未读取：请为该列加上可识别的列标题，或清空该单元格"),
    # -- what the clerk could not see, or marked -----------------------------------------------
    "hidden_sheet": (
        "sheet '{sheet}' is hidden in Excel: the figures in it cannot be seen; unhide the sheet "
        "if they are to be reported, or delete it",
        "工作表“{sheet}”被隐藏，其中的数字看不到：如需报送请取消隐藏，否则请删除"),
    "hidden_row": (
        "row {row} is hidden in Excel: its figures cannot be seen; unhide the row if they are to "
        "be reported, or delete it",
        "第 {row} 行被隐藏，其中的数字看不到：如需报送请取消隐藏，否则请删除"),
    "hidden_column": (
        "column {column} is hidden in Excel: what it holds cannot be seen; unhide the column if "
        "it is to be reported, or delete it",
        "{column} 列被隐藏，其内容看不到：如需报送请取消隐藏，否则请删除"),
    "percent_cell": (
        "cell {cell} is formatted as a percentage: it holds {held}, which Excel shows as "
        "{shown}; type the figure as you mean it (98.5 for 98.5 %) in a cell formatted as a "
        "number",
        "单元格 {cell} 为百分比格式：存的是 {held}，Excel 显示为 {shown}；请以数值格式填写（98.5% 填 98.5）"),
    "struck_cell": (
        "cell {cell} is struck through in Excel (deleted?): '{text}' was not read; delete the "
        "figure, or remove the strikethrough if it stands",
        "单元格 {cell} 加了删除线（是否已删除？）：“{text}”未读取；如已作废请删除，如有效请去掉删除线"),
    "commented_cell": (
        "cell {cell} carries a comment ('{comment}'), which may change what '{text}' means; "
        "write the figure alone in the cell and the comment in the 备注 (note) column",
        "单元格 {cell} 带有批注（“{comment}”），可能改变“{text}”的含义：请在单"
        "元格中只填数字，说明写在“备注”列"),
    # -- records ------------------------------------------------------------------------------
    "blank_value": (
        "value cell left blank: not reported (write — or 无 where there is no figure, so that it "
        "counts as reported missing)",
        "数值单元格为空，视为未报（无数据处请写“—”或“无”）"),
    "formula_without_result": (
        "the cell holds a formula without a saved result; open and save the file in Excel, or "
        "paste values",
        "单元格为公式且没有保存计算结果：请在 Excel 中打开并保存，或粘贴为数值"),
    "not_a_year": ("'{text}' is not a year (write 2023 or 2023年)",
                   "“{text}”不是年度（请写 2023 或 2023年）"),
    "not_a_number": (
        "'{text}' is not a number: write a number such as 12.5 or 1,234.5 (the whole cell, "
        "nothing after it), or — if there is no figure",
        "“{text}”不是数字：请只填数字，如 12.5 或 1,234.5（单元格内不加其他符号），无数据处写“—”"),
    "decimal_comma": (
        "'{text}' has a comma where a decimal point may be meant (12,5): write 12.5, or "
        "1,234 with the comma between thousands",
        "“{text}”中的逗号可能是小数点（12,5）：请写 12.5；千位分隔符须每三位一个，如 1,234"),
    "percent_not_unit": (
        "'{text}' carries a % sign, but {indicator} is measured in {unit}; write the figure in "
        "{unit}",
        "“{text}”带有百分号，但指标 {indicator} 的单位是 {unit}：请按 {unit} 填写"),
    "value_infinite": ("the value is infinite", "数值为无穷大"),
    "error_value": (
        "the cell holds the Excel error {error}: the formula behind it failed; fix it, or write "
        "— if there is no figure",
        "单元格为 Excel 错误值 {error}（公式计算失败）：请改正，无数据处写“—”"),
    "out_of_range": ("{value} is outside the valid range {range} of {indicator}",
                     "{value} 超出指标 {indicator} 的有效范围 {range}"),
    "duplicate_record": (
        "duplicate: {indicator} for {district} {year} is already given in row {row} (sheet "
        "{sheet}, cell {cell})",
        "重复：{indicator} {district} {year} 已在工作表 {sheet} 第 {row} 行（单元格 {cell}）填报"),
    "conflicting_record": (
        "given twice in the file with different figures ({values}: {cells}); which is right is "
        "not for citycheck to guess: send one figure",
        "文件中两次填报且数字不同（{values}：{cells}），无法判断哪个正确：请只填一个数字"),
    "not_authorised": (
        "department '{department}' does not answer for indicator {indicator}; it is reported by "
        "{owner} ({owner_name})",
        "部门“{department}”不负责指标 {indicator}，该指标由 {owner}（{owner_name}）报送"),
    "city_only_indicator": (
        "indicator is reported for the whole city only, not for {district}",
        "该指标只按全市报送，不按 {district} 报送"),
    "unit_differs": (
        "unit '{unit}' differs from the catalogue unit '{catalogue}' of {indicator}; convert the "
        "value to {catalogue}",
        "单位“{unit}”与指标 {indicator} 的规定单位“{catalogue}”不一致：请换算为 {catalogue}"),
    "unknown_flag": (
        "unknown quality flag '{text}'; use 估算 (estimated), 初步 (provisional) or leave it "
        "blank",
        "未知的质量标记“{text}”：请填“估算”“初步”或留空"),
    "district_empty": ("district is empty", "区县为空"),
    "unknown_district": ("unknown district '{text}' in {city}{hint}",
                         "{city}没有区县“{text}”{hint_zh}"),
    "district_not_then": ("district '{text}' ({codes}) did not exist in {year}",
                          "区县“{text}”（{codes}）在 {year} 年尚不存在或已撤销"),
    "district_ambiguous": ("district '{text}' is ambiguous: {codes}",
                           "区县“{text}”有歧义，可能是 {codes}"),
    "indicator_empty": ("indicator is empty", "指标为空"),
    "unknown_indicator": ("unknown indicator '{text}'{hint}", "未知的指标“{text}”{hint_zh}"),
    "withdrawal_refused": (
        "reported missing, but {earlier} was reported earlier ({origin}, {when}); a missing "
        "marker does not replace a figure unless the 备注 (note) column says why",
        "已报数值不能以“无”覆盖，除非在备注栏说明原因（此前 {when} 在 {origin} 中报送为 {earlier}）"),
    "round_closed": (
        "the {year} round of city {city} was closed on {day} by {by}: its figures are final. Ask "
        "the coordinating office to reopen it (citycheck round open --city {city} --year "
        "{year}), then send the correction again",
        "城市 {city} 的{year}年度报送轮次已于{day}由{by}关闭，数据已定稿；"
        "如需更正，请联系协调办公室重新开启后再报送"),
    # -- the receipt's summary -------------------------------------------------------------------
    "summary_counts": (
        "{accepted} records accepted, {rejected} rejected, {ignored} layout rows ignored",
        "采用 {accepted} 条，退回 {rejected} 条，忽略版式行 {ignored} 行"),
    "survey_no_table": (
        "no table of respondents found: the heading row needs the columns {columns}",
        "未找到受访者表：表头须包含以下列：{columns}"),
    "survey_city": ("the survey's city '{city}' is not one citycheck knows (known: {known}): "
                    "write the city code in the 城市 City row",
                    "问卷城市“{city}”未知（已知：{known}）：请在“城市 City”行填写城市代码"),
    "survey_year": ("the survey's year '{year}' is not a year: write it in the 年度 Year row, "
                    "as 2023",
                    "问卷年度“{year}”不是年份：请在“年度 Year”行填写，如 2023"),
    "survey_columns": ("the table lacks the columns {columns}: use the heading row of "
                       "docs/surveys.md",
                       "表格缺少以下列：{columns}：请按 docs/surveys.md 的表头填写"),
    "survey_no_respondent": ("the respondent has no id", "受访者编号为空"),
    "survey_weight": ("the weight '{text}' is not a positive number",
                      "权重“{text}”不是正数"),
    "survey_answer": ("the answer '{text}' to {item} is not 1 to 5 (1 very dissatisfied, "
                      "5 very satisfied; blank if not answered)",
                      "{item}的回答“{text}”不在 1 至 5 之间（1 非常不满意，5 非常满意；未回答留空）"),
    "survey_no_answer": ("the respondent answered none of the five questions",
                         "该受访者五个问题均未回答"),
    "survey_empty": ("the file holds no respondent", "文件中没有受访者"),
    "survey_not_found": ("no file at {path}", "找不到文件 {path}"),
    "summary_unlisted": (
        "the first {listed} rejections are listed cell by cell, the other {more} counted by "
        "reason",
        "前 {listed} 条退回记录逐条列出，其余 {more} 条按原因计数"),
    "summary_corrected": ("{count} earlier values corrected", "更正此前数值 {count} 项"),
    "summary_totals": ("{count} totals differ from the sum of the districts",
                       "{count} 个合计与区县之和不符"),
    "summary_neutralised": ("{count} formula-like cells neutralised",
                            "{count} 个公式样式的单元格已中和"),
    "summary_held": ("{count} values held for the office's review", "{count} 项数值待核实，暂不发布"),
    "summary_warned": ("{count} values accepted with a plausibility warning",
                       "{count} 项数值有合理性提示"),
    # -- totals --------------------------------------------------------------------------------
    "totals_ok": ("totals {stated} = sum of {count} districts ({indicator} {year})",
                  "合计 {stated} 等于 {count} 个区县之和（{indicator} {year}）"),
    "totals_mismatch": (
        "MISMATCH: totals {stated} differs from the sum of the {count} districts {summed} "
        "({indicator} {year}); the district values were loaded, the totals row was not — check "
        "both",
        "合计 {stated} 与 {count} 个区县之和 {summed} 不符（{indicator} {year}）："
        "已采用区县数值，未采用合计，请核对"),
    "totals_no_number": ("totals row without a number: not checked", "合计行没有数字，未核对"),
    "totals_no_indicator": ("totals {stated}: not checked (no known indicator on the row)",
                            "合计 {stated}：该行没有可识别的指标，未核对"),
    "totals_not_sum": (
        "totals {stated}: not checked ({indicator} is not a sum of districts but "
        "{aggregation})",
        "合计 {stated}：指标 {indicator} 不是区县之和（{aggregation}），未核对"),
    "totals_incomplete": (
        "totals {stated}: not checked (some district values of {indicator} {year} are missing "
        "or rejected)",
        "合计 {stated}：{indicator} {year} 有区县数值缺失或被退回，未核对"),
}

_FORMATTER = string.Formatter()


def fields(key: str) -> list[str]:
    """The named fields of a message, in the order the English text uses them."""
    names = []
    for text in MESSAGES[key]:
        for _, name, _, _ in _FORMATTER.parse(text):
            if name and name not in names:
                names.append(name)
    return names


def say(key: str, **values) -> str:
    """The message in English, then Chinese."""
    en, zh = MESSAGES[key]
    return f"{en.format(**values)} {zh.format(**values)}"


def sql_format(key: str) -> tuple[str, list[str]]:
    """(the message with every field as `{}` and braces doubled elsewhere, for DuckDB's
    format(); the fields in the order they appear)."""
    en, zh = MESSAGES[key]
    text = f"{en} {zh}"
    order: list[str] = []
    out = []
    for literal, name, _, _ in _FORMATTER.parse(text):
        out.append(literal.replace("{", "{{").replace("}", "}}"))
        if name is not None:
            out.append("{}")
            order.append(name)
    return "".join(out), order


CJK = re.compile(r"[\u4e00-\u9fff]")
