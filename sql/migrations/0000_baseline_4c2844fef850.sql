-- Baseline: ELLA's schema at its Alembic head 4c2844fef850 (ELLA 1.17), for an empty database.
--
-- Written from the data model specification (table, column, constraint and index names are
-- ELLA's own, so a database made here and one made by ELLA are interchangeable). Column order
-- is ELLA's physical order. Foreign keys are added at the end because the tables reference
-- each other in a cycle (genepanel -> "user" -> usergroup -> genepanel).
--
-- Not created here:
--   * the annotation shadow tables and all functions/triggers: `ella-db refresh` builds them
--     from sql/triggers/ and the frequency groups of the configuration;
--   * ELLA's unused full-text helper functions (tsq_*, array_nremove, type tsq_state), which
--     ELLA 1.17 never calls.
-- The legacy annotation config row follows in 0001.

-- Enum types, values in ELLA's order (ORDER BY on these columns depends on it).
CREATE TYPE alleleassessment_classification AS ENUM ('1', '2', '3', '4', '5', 'NP', 'DR', 'RF');
CREATE TYPE alleleinterpretation_workflow_status AS ENUM ('Interpretation', 'Review');
CREATE TYPE analysisinterpretation_workflow_status AS ENUM
    ('Not ready', 'Interpretation', 'Review', 'Medical review');
CREATE TYPE caller_type AS ENUM ('snv', 'cnv');
CREATE TYPE change_type AS ENUM
    ('SNP', 'del', 'ins', 'indel', 'dup', 'dup_tandem', 'del_me', 'ins_me', 'inv', 'bnd');
CREATE TYPE genotypesampledata_type AS ENUM ('Homozygous', 'Heterozygous', 'Reference', 'No coverage');
-- Unused since 2018 but present in every ELLA database; kept so catalogues compare equal.
CREATE TYPE interpretation_endaction AS ENUM ('Mark review', 'Finalize');
CREATE TYPE interpretation_status AS ENUM ('Not started', 'Ongoing', 'Done');
CREATE TYPE interpretationsnapshot_filtered AS ENUM
    ('FREQUENCY', 'REGION', 'POLYPYRIMIDINE', 'GENE', 'QUALITY', 'CONSEQUENCE', 'SEGREGATION',
     'INHERITANCEMODEL', 'CLASSIFICATION');
CREATE TYPE job_status AS ENUM
    ('SUBMITTED', 'RUNNING', 'ANNOTATED', 'CANCELLED', 'DONE', 'FAILED (SUBMISSION)',
     'FAILED (ANNOTATION)', 'FAILED (DEPOSIT)', 'FAILED (PROCESSING)');
CREATE TYPE mode AS ENUM ('Analysis', 'Variants', 'Single variant');
CREATE TYPE sample_sex AS ENUM ('Male', 'Female');
CREATE TYPE sample_type AS ENUM ('HTS', 'Sanger');
CREATE TYPE transcript_type AS ENUM ('RefSeq', 'Ensembl', 'LRG');

-- Schema bookkeeping -------------------------------------------------------------------------

CREATE TABLE alembic_version (
    version_num varchar(32) NOT NULL,
    CONSTRAINT alembic_version_pkc PRIMARY KEY (version_num)
);

CREATE TABLE jsonschema (
    id serial NOT NULL,
    name varchar NOT NULL,
    version integer NOT NULL,
    schema jsonb NOT NULL,
    CONSTRAINT pk_jsonschema PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_jsonschema_unique ON jsonschema (name, version);

-- Variants and annotation --------------------------------------------------------------------

CREATE TABLE allele (
    id serial NOT NULL,
    genome_reference varchar NOT NULL,
    chromosome varchar NOT NULL,
    start_position integer NOT NULL,
    open_end_position integer NOT NULL,
    change_from varchar NOT NULL,
    change_to varchar NOT NULL,
    change_type change_type NOT NULL,
    vcf_pos integer NOT NULL,
    vcf_ref varchar NOT NULL,
    vcf_alt varchar NOT NULL,
    length integer NOT NULL,
    caller_type caller_type NOT NULL,
    CONSTRAINT pk_allele PRIMARY KEY (id),
    CONSTRAINT "ucAllele" UNIQUE (chromosome, start_position, open_end_position, change_from,
        change_to, change_type, vcf_pos, vcf_ref, vcf_alt, length, caller_type)
);
CREATE INDEX ix_alleleloci ON allele (chromosome, start_position, open_end_position);

CREATE TABLE annotation (
    id serial NOT NULL,
    allele_id integer,
    annotations jsonb,
    previous_annotation_id integer,
    date_superceeded timestamptz,
    date_created timestamptz NOT NULL,
    schema_version integer NOT NULL,
    annotation_config_id integer NOT NULL,
    CONSTRAINT pk_annotation PRIMARY KEY (id)
);
CREATE INDEX ix_annotation_allele_id ON annotation (allele_id);
CREATE INDEX ix_annotation_annotation_config_id ON annotation (annotation_config_id);
CREATE UNIQUE INDEX ix_annotation_unique ON annotation (allele_id) WHERE date_superceeded IS NULL;

CREATE TABLE annotationconfig (
    id serial NOT NULL,
    deposit json NOT NULL,
    view json NOT NULL,
    date_created timestamptz NOT NULL,
    CONSTRAINT pk_annotationconfig PRIMARY KEY (id)
);

CREATE TABLE customannotation (
    id serial NOT NULL,
    annotations jsonb,
    allele_id integer,
    user_id integer,
    previous_annotation_id integer,
    date_superceeded timestamptz,
    date_created timestamptz NOT NULL,
    CONSTRAINT pk_customannotation PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_customannotation_unique ON customannotation (allele_id)
    WHERE date_superceeded IS NULL;

-- Genes and gene panels ----------------------------------------------------------------------

CREATE TABLE gene (
    hgnc_id serial NOT NULL,
    hgnc_symbol varchar NOT NULL,
    CONSTRAINT pk_gene PRIMARY KEY (hgnc_id)
);
CREATE UNIQUE INDEX ix_gene_hgnc_symbol ON gene (lower(hgnc_symbol) text_pattern_ops);

CREATE TABLE transcript (
    id serial NOT NULL,
    gene_id integer NOT NULL,
    transcript_name varchar NOT NULL,
    type transcript_type NOT NULL,
    genome_reference varchar NOT NULL,
    chromosome varchar NOT NULL,
    tx_start integer NOT NULL,
    tx_end integer NOT NULL,
    strand varchar(1) NOT NULL,
    cds_start integer,
    cds_end integer,
    exon_starts integer[] NOT NULL,
    exon_ends integer[] NOT NULL,
    tags text[],
    CONSTRAINT pk_transcript PRIMARY KEY (id),
    CONSTRAINT uq_transcript_transcript_name UNIQUE (transcript_name)
);

CREATE TABLE phenotype (
    id serial NOT NULL,
    gene_id integer NOT NULL,
    description varchar NOT NULL,
    inheritance varchar NOT NULL,
    omim_id integer,
    CONSTRAINT pk_phenotype PRIMARY KEY (id),
    CONSTRAINT uq_phenotype_gene_id UNIQUE (gene_id, description, inheritance)
);

CREATE TABLE genepanel (
    name varchar NOT NULL,
    version varchar NOT NULL,
    genome_reference varchar NOT NULL,
    official boolean NOT NULL,
    date_created timestamptz NOT NULL,
    user_id integer,
    CONSTRAINT pk_genepanel PRIMARY KEY (name, version)
);

CREATE TABLE genepanel_transcript (
    genepanel_name varchar NOT NULL,
    genepanel_version varchar NOT NULL,
    transcript_id integer NOT NULL,
    inheritance text NOT NULL
);

CREATE TABLE genepanel_phenotype (
    genepanel_name varchar NOT NULL,
    genepanel_version varchar NOT NULL,
    phenotype_id integer NOT NULL
);

-- Analyses, samples, genotypes, filters, import jobs -----------------------------------------

CREATE TABLE analysis (
    id serial NOT NULL,
    name varchar NOT NULL,
    genepanel_name varchar,
    genepanel_version varchar,
    warnings varchar,
    report varchar,
    date_deposited timestamptz NOT NULL,
    properties jsonb,
    date_requested timestamptz,
    CONSTRAINT pk_analysis PRIMARY KEY (id),
    CONSTRAINT uq_analysis_name UNIQUE (name)
);

CREATE TABLE sample (
    id serial NOT NULL,
    identifier varchar NOT NULL,
    analysis_id integer NOT NULL,
    sample_type sample_type NOT NULL,
    date_deposited timestamptz NOT NULL,
    affected boolean NOT NULL,
    family_id varchar,
    father_id integer,
    mother_id integer,
    sibling_id integer,
    proband boolean NOT NULL,
    sex sample_sex,
    CONSTRAINT pk_sample PRIMARY KEY (id)
);
CREATE INDEX ix_sampleidentifier ON sample (identifier);

CREATE TABLE genotype (
    id serial NOT NULL,
    allele_id integer NOT NULL,
    secondallele_id integer,
    sample_id integer NOT NULL,
    variant_quality integer,
    filter_status varchar,
    CONSTRAINT pk_genotype PRIMARY KEY (id)
);
CREATE INDEX ix_genotype_sample_id ON genotype (sample_id);

CREATE TABLE genotypesampledata (
    id serial NOT NULL,
    genotype_id integer NOT NULL,
    secondallele boolean NOT NULL,
    multiallelic boolean NOT NULL,
    type genotypesampledata_type NOT NULL,
    sample_id integer NOT NULL,
    genotype_quality smallint,
    sequencing_depth smallint,
    genotype_likelihood integer[],
    allele_depth jsonb,
    allele_ratio double precision,
    copy_number smallint,
    CONSTRAINT pk_genotypesampledata PRIMARY KEY (id),
    CONSTRAINT genotypesampledata_genotype_likelihood_check
        CHECK (array_position(genotype_likelihood, NULL::integer) IS NULL)
);
CREATE INDEX ix_genotypesampledata_genotype_id ON genotypesampledata (genotype_id);
CREATE INDEX ix_genotypesampledata_sample_id ON genotypesampledata (sample_id);

CREATE TABLE filterconfig (
    id serial NOT NULL,
    name varchar NOT NULL,
    filterconfig jsonb NOT NULL,
    active boolean NOT NULL,
    date_superceeded timestamptz,
    previous_filterconfig_id integer,
    requirements jsonb DEFAULT '[]'::jsonb NOT NULL,
    schema_version integer NOT NULL,
    CONSTRAINT pk_filterconfig PRIMARY KEY (id)
);
CREATE UNIQUE INDEX uq_filterconfig_name_active_unique ON filterconfig (name) WHERE active IS TRUE;

CREATE TABLE usergroupfilterconfig (
    id serial NOT NULL,
    usergroup_id integer NOT NULL,
    filterconfig_id integer NOT NULL,
    "order" integer NOT NULL,
    CONSTRAINT pk_usergroupfilterconfig PRIMARY KEY (id)
);
CREATE UNIQUE INDEX uq_usergroupfilterconfig_unique
    ON usergroupfilterconfig (usergroup_id, filterconfig_id);

CREATE TABLE annotationjob (
    id serial NOT NULL,
    task_id varchar,
    status job_status NOT NULL,
    status_history jsonb,
    mode mode,
    data varchar,
    message varchar,
    user_id integer,
    date_submitted timestamptz NOT NULL,
    date_last_update timestamptz NOT NULL,
    genepanel_name varchar,
    genepanel_version varchar,
    properties jsonb,
    sample_id varchar,
    CONSTRAINT pk_annotationjob PRIMARY KEY (id)
);

-- Assessments, reports, references, attachments ----------------------------------------------

CREATE TABLE alleleassessment (
    id serial NOT NULL,
    classification alleleassessment_classification NOT NULL,
    evaluation jsonb,
    user_id integer NOT NULL,
    date_created timestamptz NOT NULL,
    date_superceeded timestamptz,
    previous_assessment_id integer,
    allele_id integer NOT NULL,
    genepanel_name varchar NOT NULL,
    genepanel_version varchar NOT NULL,
    analysis_id integer,
    annotation_id integer,
    custom_annotation_id integer,
    usergroup_id integer,
    CONSTRAINT pk_alleleassessment PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_assessment_alleleid_unique ON alleleassessment (allele_id)
    WHERE date_superceeded IS NULL;

CREATE TABLE referenceassessment (
    id serial NOT NULL,
    reference_id integer NOT NULL,
    evaluation jsonb,
    user_id integer NOT NULL,
    date_created timestamptz NOT NULL,
    date_superceeded timestamptz,
    genepanel_name varchar NOT NULL,
    genepanel_version varchar NOT NULL,
    allele_id integer NOT NULL,
    previous_assessment_id integer,
    analysis_id integer,
    usergroup_id integer,
    CONSTRAINT pk_referenceassessment PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_referenceassessment_alleleid_referenceid_unique
    ON referenceassessment (allele_id, reference_id) WHERE date_superceeded IS NULL;

CREATE TABLE allelereport (
    id serial NOT NULL,
    evaluation jsonb,
    user_id integer NOT NULL,
    date_created timestamptz NOT NULL,
    date_superceeded timestamptz,
    previous_report_id integer,
    allele_id integer NOT NULL,
    analysis_id integer,
    alleleassessment_id integer,
    usergroup_id integer,
    CONSTRAINT pk_allelereport PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_allelereport_alleleid_unique ON allelereport (allele_id)
    WHERE date_superceeded IS NULL;

CREATE TABLE geneassessment (
    id serial NOT NULL,
    evaluation jsonb,
    user_id integer NOT NULL,
    usergroup_id integer,
    date_created timestamptz NOT NULL,
    genepanel_name varchar NOT NULL,
    genepanel_version varchar NOT NULL,
    date_superceeded timestamptz,
    previous_assessment_id integer,
    gene_id integer NOT NULL,
    analysis_id integer,
    CONSTRAINT pk_geneassessment PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_geneassessment_geneid_unique ON geneassessment (gene_id)
    WHERE date_superceeded IS NULL;

CREATE TABLE reference (
    id serial NOT NULL,
    authors varchar,
    title varchar,
    journal varchar,
    abstract varchar,
    year varchar,
    pubmed_id integer,
    published boolean NOT NULL,
    attachment_id integer,
    search tsvector,
    CONSTRAINT pk_reference PRIMARY KEY (id),
    CONSTRAINT uq_reference_pubmed_id UNIQUE (pubmed_id)
);
-- ELLA has this duplicate of uq_reference_pubmed_id too.
CREATE UNIQUE INDEX ix_pubmedid ON reference (pubmed_id);
CREATE INDEX ix_reference_search ON reference USING gin (search);

CREATE TABLE attachment (
    id serial NOT NULL,
    sha256 varchar,
    filename varchar NOT NULL,
    size bigint,
    date_created timestamptz NOT NULL,
    mimetype varchar,
    extension varchar,
    user_id integer NOT NULL,
    CONSTRAINT pk_attachment PRIMARY KEY (id)
);

CREATE TABLE alleleassessmentattachment (
    alleleassessment_id integer,
    attachment_id integer
);

CREATE TABLE alleleassessmentreferenceassessment (
    alleleassessment_id integer,
    referenceassessment_id integer
);

-- Workflow (interpretation rounds) -----------------------------------------------------------

CREATE TABLE analysisinterpretation (
    id serial NOT NULL,
    genepanel_name varchar NOT NULL,
    genepanel_version varchar NOT NULL,
    user_state jsonb,
    state jsonb,
    status interpretation_status NOT NULL,
    date_last_update timestamptz NOT NULL,
    date_created timestamptz NOT NULL,
    analysis_id integer NOT NULL,
    user_id integer,
    finalized boolean,
    workflow_status analysisinterpretation_workflow_status NOT NULL,
    CONSTRAINT pk_analysisinterpretation PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_analysisinterpretation_analysisid_ongoing_unique
    ON analysisinterpretation (analysis_id)
    WHERE status = ANY (ARRAY['Ongoing'::interpretation_status, 'Not started'::interpretation_status]);

CREATE TABLE alleleinterpretation (
    id serial NOT NULL,
    genepanel_name varchar NOT NULL,
    genepanel_version varchar NOT NULL,
    user_state jsonb,
    state jsonb,
    status interpretation_status NOT NULL,
    date_last_update timestamptz NOT NULL,
    date_created timestamptz NOT NULL,
    allele_id integer NOT NULL,
    user_id integer,
    finalized boolean,
    workflow_status alleleinterpretation_workflow_status NOT NULL,
    CONSTRAINT pk_alleleinterpretation PRIMARY KEY (id)
);
CREATE UNIQUE INDEX ix_alleleinterpretation_alleleid_ongoing_unique
    ON alleleinterpretation (allele_id)
    WHERE status = ANY (ARRAY['Ongoing'::interpretation_status, 'Not started'::interpretation_status]);

CREATE TABLE analysisinterpretationsnapshot (
    id serial NOT NULL,
    date_created timestamptz NOT NULL,
    filtered interpretationsnapshot_filtered,
    analysisinterpretation_id integer NOT NULL,
    allele_id integer NOT NULL,
    annotation_id integer,
    customannotation_id integer,
    alleleassessment_id integer,
    allelereport_id integer,
    CONSTRAINT pk_analysisinterpretationsnapshot PRIMARY KEY (id),
    CONSTRAINT uq_analysisinterpretationsnapshot_analysisinterpretation_id
        UNIQUE (analysisinterpretation_id, allele_id)
);

CREATE TABLE alleleinterpretationsnapshot (
    id serial NOT NULL,
    date_created timestamptz NOT NULL,
    filtered interpretationsnapshot_filtered,
    alleleinterpretation_id integer NOT NULL,
    allele_id integer NOT NULL,
    annotation_id integer,
    customannotation_id integer,
    alleleassessment_id integer,
    allelereport_id integer,
    CONSTRAINT pk_alleleinterpretationsnapshot PRIMARY KEY (id),
    CONSTRAINT uq_alleleinterpretationsnapshot_alleleinterpretation_id
        UNIQUE (alleleinterpretation_id, allele_id)
);

CREATE TABLE interpretationstatehistory (
    id serial NOT NULL,
    alleleinterpretation_id integer,
    analysisinterpretation_id integer,
    user_id integer NOT NULL,
    date_created timestamptz NOT NULL,
    state jsonb NOT NULL,
    CONSTRAINT pk_interpretationstatehistory PRIMARY KEY (id)
);

CREATE TABLE interpretationlog (
    id serial NOT NULL,
    alleleinterpretation_id integer,
    analysisinterpretation_id integer,
    user_id integer,
    date_created timestamptz NOT NULL,
    message varchar,
    priority integer,
    review_comment varchar,
    warning_cleared boolean,
    alleleassessment_id integer,
    allelereport_id integer,
    CONSTRAINT pk_interpretationlog PRIMARY KEY (id)
);

-- Users, groups, sessions --------------------------------------------------------------------

CREATE TABLE "user" (
    id serial NOT NULL,
    username varchar NOT NULL,
    first_name varchar NOT NULL,
    last_name varchar NOT NULL,
    group_id integer NOT NULL,
    password varchar NOT NULL,
    password_expiry timestamptz NOT NULL,
    active boolean NOT NULL,
    incorrect_logins integer NOT NULL,
    config jsonb,
    email varchar,
    CONSTRAINT pk_user PRIMARY KEY (id),
    CONSTRAINT uq_user_username UNIQUE (username)
);

CREATE TABLE usergroup (
    id serial NOT NULL,
    name varchar NOT NULL,
    config jsonb,
    default_import_genepanel_name varchar,
    default_import_genepanel_version varchar,
    CONSTRAINT pk_usergroup PRIMARY KEY (id),
    CONSTRAINT uq_usergroup_name UNIQUE (name)
);

CREATE TABLE usergroupgenepanel (
    usergroup_id integer,
    genepanel_name varchar NOT NULL,
    genepanel_version varchar NOT NULL
);

CREATE TABLE usergroupimport (
    usergroup_id integer NOT NULL,
    usergroupimport_id integer NOT NULL,
    CONSTRAINT uq_usergroupimport_usergroup_id UNIQUE (usergroup_id, usergroupimport_id)
);

CREATE TABLE usersession (
    id serial NOT NULL,
    user_id integer,
    token varchar NOT NULL,
    issued timestamptz NOT NULL,
    lastactivity timestamptz NOT NULL,
    expires timestamptz NOT NULL,
    logged_out timestamptz,
    CONSTRAINT pk_usersession PRIMARY KEY (id),
    CONSTRAINT uq_usersession_token UNIQUE (token)
);

CREATE TABLE useroldpassword (
    id serial NOT NULL,
    user_id integer,
    password varchar NOT NULL,
    expired timestamptz NOT NULL,
    CONSTRAINT pk_useroldpassword PRIMARY KEY (id)
);

-- Logs and messages --------------------------------------------------------------------------

CREATE TABLE resourcelog (
    id serial NOT NULL,
    remote_addr inet NOT NULL,
    "time" timestamptz NOT NULL,
    duration integer NOT NULL,
    usersession_id integer,
    method varchar NOT NULL,
    resource varchar NOT NULL,
    query varchar NOT NULL,
    response varchar,
    response_size integer NOT NULL,
    payload varchar,
    payload_size integer NOT NULL,
    statuscode integer NOT NULL,
    CONSTRAINT pk_resourcelog PRIMARY KEY (id)
);
CREATE INDEX ix_resourcelog_time ON resourcelog ("time");

CREATE TABLE clilog (
    id serial NOT NULL,
    "time" timestamptz NOT NULL,
    "user" varchar NOT NULL,
    "group" varchar NOT NULL,
    groupcommand varchar NOT NULL,
    command varchar NOT NULL,
    reason varchar,
    output varchar NOT NULL,
    CONSTRAINT pk_clilog PRIMARY KEY (id)
);

CREATE TABLE uiexception (
    id serial NOT NULL,
    "time" timestamptz NOT NULL,
    usersession_id integer,
    message varchar NOT NULL,
    location varchar,
    stacktrace varchar,
    state jsonb,
    CONSTRAINT pk_uiexception PRIMARY KEY (id)
);

CREATE TABLE broadcast (
    id serial NOT NULL,
    date_created timestamptz NOT NULL,
    message varchar NOT NULL,
    active boolean NOT NULL,
    CONSTRAINT pk_broadcast PRIMARY KEY (id)
);

-- Foreign keys (names are ELLA's; PostgreSQL truncates names to 63 bytes, as ELLA's do) -------

ALTER TABLE annotation
    ADD CONSTRAINT fk_annotation_allele_id_allele FOREIGN KEY (allele_id) REFERENCES allele (id),
    ADD CONSTRAINT fk_annotation_annotation_config_id_annotationconfig
        FOREIGN KEY (annotation_config_id) REFERENCES annotationconfig (id),
    ADD CONSTRAINT fk_annotation_previous_annotation_id_annotation
        FOREIGN KEY (previous_annotation_id) REFERENCES annotation (id);

ALTER TABLE customannotation
    ADD CONSTRAINT fk_customannotation_allele_id_allele FOREIGN KEY (allele_id) REFERENCES allele (id),
    ADD CONSTRAINT fk_customannotation_previous_annotation_id_customannotation
        FOREIGN KEY (previous_annotation_id) REFERENCES customannotation (id),
    ADD CONSTRAINT fk_customannotation_user_id_user FOREIGN KEY (user_id) REFERENCES "user" (id);

ALTER TABLE transcript
    ADD CONSTRAINT fk_transcript_gene_id_gene FOREIGN KEY (gene_id) REFERENCES gene (hgnc_id);

ALTER TABLE phenotype
    ADD CONSTRAINT fk_phenotype_gene_id_gene FOREIGN KEY (gene_id) REFERENCES gene (hgnc_id);

ALTER TABLE genepanel
    ADD CONSTRAINT fk_genepanel_user_id_user FOREIGN KEY (user_id) REFERENCES "user" (id);

ALTER TABLE genepanel_transcript
    ADD CONSTRAINT fk_genepanel_transcript_genepanel_name_genepanel
        FOREIGN KEY (genepanel_name, genepanel_version) REFERENCES genepanel (name, version)
        ON DELETE CASCADE,
    ADD CONSTRAINT fk_genepanel_transcript_transcript_id_transcript
        FOREIGN KEY (transcript_id) REFERENCES transcript (id);

ALTER TABLE genepanel_phenotype
    ADD CONSTRAINT fk_genepanel_phenotype_genepanel_name_genepanel
        FOREIGN KEY (genepanel_name, genepanel_version) REFERENCES genepanel (name, version)
        ON DELETE CASCADE,
    ADD CONSTRAINT fk_genepanel_phenotype_phenotype_id_phenotype
        FOREIGN KEY (phenotype_id) REFERENCES phenotype (id);

ALTER TABLE analysis
    ADD CONSTRAINT fk_analysis_genepanel_name_genepanel
        FOREIGN KEY (genepanel_name, genepanel_version) REFERENCES genepanel (name, version);

ALTER TABLE sample
    ADD CONSTRAINT fk_sample_analysis_id_analysis
        FOREIGN KEY (analysis_id) REFERENCES analysis (id) ON DELETE CASCADE,
    ADD CONSTRAINT fk_sample_father_id_sample FOREIGN KEY (father_id) REFERENCES sample (id),
    ADD CONSTRAINT fk_sample_mother_id_sample FOREIGN KEY (mother_id) REFERENCES sample (id),
    ADD CONSTRAINT fk_sample_sibling_id_sample FOREIGN KEY (sibling_id) REFERENCES sample (id);

ALTER TABLE genotype
    ADD CONSTRAINT fk_genotype_allele_id_allele FOREIGN KEY (allele_id) REFERENCES allele (id),
    ADD CONSTRAINT fk_genotype_sample_id_sample
        FOREIGN KEY (sample_id) REFERENCES sample (id) ON DELETE CASCADE,
    ADD CONSTRAINT fk_genotype_secondallele_id_allele
        FOREIGN KEY (secondallele_id) REFERENCES allele (id);

ALTER TABLE genotypesampledata
    ADD CONSTRAINT fk_genotypesampledata_genotype_id_genotype
        FOREIGN KEY (genotype_id) REFERENCES genotype (id) ON DELETE CASCADE,
    ADD CONSTRAINT fk_genotypesampledata_sample_id_sample
        FOREIGN KEY (sample_id) REFERENCES sample (id) ON DELETE CASCADE;

ALTER TABLE filterconfig
    ADD CONSTRAINT fk_filterconfig_previous_filterconfig_filterconfig
        FOREIGN KEY (previous_filterconfig_id) REFERENCES filterconfig (id);

ALTER TABLE usergroupfilterconfig
    ADD CONSTRAINT fk_usergroupfilterconfig_filterconfig_id_filterconfig
        FOREIGN KEY (filterconfig_id) REFERENCES filterconfig (id),
    ADD CONSTRAINT fk_usergroupfilterconfig_usergroup_id_usergroup
        FOREIGN KEY (usergroup_id) REFERENCES usergroup (id);

ALTER TABLE annotationjob
    ADD CONSTRAINT fk_annotationjob_genepanel_name_genepanel
        FOREIGN KEY (genepanel_name, genepanel_version) REFERENCES genepanel (name, version),
    ADD CONSTRAINT fk_annotationjob_user_id_user FOREIGN KEY (user_id) REFERENCES "user" (id);

ALTER TABLE alleleassessment
    ADD CONSTRAINT fk_alleleassessment_allele_id_allele FOREIGN KEY (allele_id) REFERENCES allele (id),
    ADD CONSTRAINT fk_alleleassessment_analysis_id_analysis
        FOREIGN KEY (analysis_id) REFERENCES analysis (id) ON DELETE SET NULL,
    ADD CONSTRAINT fk_alleleassessment_annotation_id_annotation
        FOREIGN KEY (annotation_id) REFERENCES annotation (id),
    ADD CONSTRAINT fk_alleleassessment_custom_annotation_id_customannotation
        FOREIGN KEY (custom_annotation_id) REFERENCES customannotation (id),
    ADD CONSTRAINT fk_alleleassessment_genepanel_name_genepanel
        FOREIGN KEY (genepanel_name, genepanel_version) REFERENCES genepanel (name, version),
    ADD CONSTRAINT fk_alleleassessment_previous_assessment_id_alleleassessment
        FOREIGN KEY (previous_assessment_id) REFERENCES alleleassessment (id),
    ADD CONSTRAINT fk_alleleassessment_user_id_user FOREIGN KEY (user_id) REFERENCES "user" (id),
    ADD CONSTRAINT fk_alleleassessment_usergroup_id_usergroup
        FOREIGN KEY (usergroup_id) REFERENCES usergroup (id);

ALTER TABLE referenceassessment
    ADD CONSTRAINT fk_referenceassessment_allele_id_allele FOREIGN KEY (allele_id) REFERENCES allele (id),
    ADD CONSTRAINT fk_referenceassessment_analysis_id_analysis
        FOREIGN KEY (analysis_id) REFERENCES analysis (id) ON DELETE SET NULL,
    ADD CONSTRAINT fk_referenceassessment_genepanel_name_genepanel
        FOREIGN KEY (genepanel_name, genepanel_version) REFERENCES genepanel (name, version),
    ADD CONSTRAINT fk_referenceassessment_previous_assessment_id_referenceassessme
        FOREIGN KEY (previous_assessment_id) REFERENCES referenceassessment (id),
    ADD CONSTRAINT fk_referenceassessment_reference_id_reference
        FOREIGN KEY (reference_id) REFERENCES reference (id),
    ADD CONSTRAINT fk_referenceassessment_user_id_user FOREIGN KEY (user_id) REFERENCES "user" (id),
    ADD CONSTRAINT fk_referenceassessment_usergroup_id_usergroup
        FOREIGN KEY (usergroup_id) REFERENCES usergroup (id);

ALTER TABLE allelereport
    ADD CONSTRAINT fk_allelereport_allele_id_allele FOREIGN KEY (allele_id) REFERENCES allele (id),
    ADD CONSTRAINT fk_allelereport_alleleassessment_id_alleleassessment
        FOREIGN KEY (alleleassessment_id) REFERENCES alleleassessment (id),
    ADD CONSTRAINT fk_allelereport_analysis_id_analysis
        FOREIGN KEY (analysis_id) REFERENCES analysis (id) ON DELETE SET NULL,
    ADD CONSTRAINT fk_allelereport_previous_report_id_allelereport
        FOREIGN KEY (previous_report_id) REFERENCES allelereport (id),
    ADD CONSTRAINT fk_allelereport_user_id_user FOREIGN KEY (user_id) REFERENCES "user" (id),
    ADD CONSTRAINT fk_allelereport_usergroup_id_usergroup
        FOREIGN KEY (usergroup_id) REFERENCES usergroup (id);

ALTER TABLE geneassessment
    ADD CONSTRAINT fk_geneassessment_analysis_id_analysis
        FOREIGN KEY (analysis_id) REFERENCES analysis (id) ON DELETE SET NULL,
    ADD CONSTRAINT fk_geneassessment_gene_id_gene FOREIGN KEY (gene_id) REFERENCES gene (hgnc_id),
    ADD CONSTRAINT fk_geneassessment_previous_assessment_id_geneassessment
        FOREIGN KEY (previous_assessment_id) REFERENCES geneassessment (id),
    ADD CONSTRAINT fk_geneassessment_user_id_user FOREIGN KEY (user_id) REFERENCES "user" (id),
    ADD CONSTRAINT fk_geneassessment_usergroup_id_usergroup
        FOREIGN KEY (usergroup_id) REFERENCES usergroup (id);

ALTER TABLE reference
    ADD CONSTRAINT fk_reference_attachment_id_attachment
        FOREIGN KEY (attachment_id) REFERENCES attachment (id);

ALTER TABLE attachment
    ADD CONSTRAINT fk_attachment_user_id_user FOREIGN KEY (user_id) REFERENCES "user" (id);

ALTER TABLE alleleassessmentattachment
    ADD CONSTRAINT fk_alleleassessmentattachment_alleleassessment_id_alleleassessm
        FOREIGN KEY (alleleassessment_id) REFERENCES alleleassessment (id),
    ADD CONSTRAINT fk_alleleassessmentattachment_attachment_id_attachment
        FOREIGN KEY (attachment_id) REFERENCES attachment (id);

ALTER TABLE alleleassessmentreferenceassessment
    ADD CONSTRAINT fk_alleleassessmentreferenceassessment_alleleassessment_id_alle
        FOREIGN KEY (alleleassessment_id) REFERENCES alleleassessment (id),
    ADD CONSTRAINT fk_alleleassessmentreferenceassessment_referenceassessment_id_r
        FOREIGN KEY (referenceassessment_id) REFERENCES referenceassessment (id);

ALTER TABLE analysisinterpretation
    ADD CONSTRAINT fk_analysisinterpretation_analysis_id_analysis
        FOREIGN KEY (analysis_id) REFERENCES analysis (id) ON DELETE CASCADE,
    ADD CONSTRAINT fk_analysisinterpretation_genepanel_name_genepanel
        FOREIGN KEY (genepanel_name, genepanel_version) REFERENCES genepanel (name, version),
    ADD CONSTRAINT fk_analysisinterpretation_user_id_user FOREIGN KEY (user_id) REFERENCES "user" (id);

ALTER TABLE alleleinterpretation
    ADD CONSTRAINT fk_alleleinterpretation_allele_id_allele FOREIGN KEY (allele_id) REFERENCES allele (id),
    ADD CONSTRAINT fk_alleleinterpretation_genepanel_name_genepanel
        FOREIGN KEY (genepanel_name, genepanel_version) REFERENCES genepanel (name, version),
    ADD CONSTRAINT fk_alleleinterpretation_user_id_user FOREIGN KEY (user_id) REFERENCES "user" (id);

ALTER TABLE analysisinterpretationsnapshot
    ADD CONSTRAINT fk_analysisinterpretationsnapshot_allele_id_allele
        FOREIGN KEY (allele_id) REFERENCES allele (id),
    ADD CONSTRAINT fk_analysisinterpretationsnapshot_alleleassessment_id_alleleass
        FOREIGN KEY (alleleassessment_id) REFERENCES alleleassessment (id),
    ADD CONSTRAINT fk_analysisinterpretationsnapshot_allelereport_id_allelereport
        FOREIGN KEY (allelereport_id) REFERENCES allelereport (id),
    ADD CONSTRAINT fk_analysisinterpretationsnapshot_analysisinterpretation_id_ana
        FOREIGN KEY (analysisinterpretation_id) REFERENCES analysisinterpretation (id)
        ON DELETE CASCADE,
    ADD CONSTRAINT fk_analysisinterpretationsnapshot_annotation_id_annotation
        FOREIGN KEY (annotation_id) REFERENCES annotation (id),
    ADD CONSTRAINT fk_analysisinterpretationsnapshot_customannotation_id_customann
        FOREIGN KEY (customannotation_id) REFERENCES customannotation (id);

ALTER TABLE alleleinterpretationsnapshot
    ADD CONSTRAINT fk_alleleinterpretationsnapshot_allele_id_allele
        FOREIGN KEY (allele_id) REFERENCES allele (id),
    ADD CONSTRAINT fk_alleleinterpretationsnapshot_alleleassessment_id_alleleasses
        FOREIGN KEY (alleleassessment_id) REFERENCES alleleassessment (id),
    ADD CONSTRAINT fk_alleleinterpretationsnapshot_alleleinterpretation_id_allelei
        FOREIGN KEY (alleleinterpretation_id) REFERENCES alleleinterpretation (id)
        ON DELETE CASCADE,
    ADD CONSTRAINT fk_alleleinterpretationsnapshot_allelereport_id_allelereport
        FOREIGN KEY (allelereport_id) REFERENCES allelereport (id),
    ADD CONSTRAINT fk_alleleinterpretationsnapshot_annotation_id_annotation
        FOREIGN KEY (annotation_id) REFERENCES annotation (id),
    ADD CONSTRAINT fk_alleleinterpretationsnapshot_customannotation_id_customannot
        FOREIGN KEY (customannotation_id) REFERENCES customannotation (id);

ALTER TABLE interpretationstatehistory
    ADD CONSTRAINT fk_interpretationstatehistory_alleleinterpretation_id_alleleint
        FOREIGN KEY (alleleinterpretation_id) REFERENCES alleleinterpretation (id) ON DELETE CASCADE,
    ADD CONSTRAINT fk_interpretationstatehistory_analysisinterpretation_id_analysi
        FOREIGN KEY (analysisinterpretation_id) REFERENCES analysisinterpretation (id)
        ON DELETE CASCADE,
    ADD CONSTRAINT fk_interpretationstatehistory_user_id_user
        FOREIGN KEY (user_id) REFERENCES "user" (id);

ALTER TABLE interpretationlog
    ADD CONSTRAINT fk_interpretationlog_alleleassessment_id_alleleassessment
        FOREIGN KEY (alleleassessment_id) REFERENCES alleleassessment (id),
    ADD CONSTRAINT fk_interpretationlog_alleleinterpretation_id_alleleinterpretati
        FOREIGN KEY (alleleinterpretation_id) REFERENCES alleleinterpretation (id) ON DELETE CASCADE,
    ADD CONSTRAINT fk_interpretationlog_allelereport_id_allelereport
        FOREIGN KEY (allelereport_id) REFERENCES allelereport (id),
    ADD CONSTRAINT fk_interpretationlog_analysisinterpretation_id_analysisinterpre
        FOREIGN KEY (analysisinterpretation_id) REFERENCES analysisinterpretation (id)
        ON DELETE CASCADE,
    ADD CONSTRAINT fk_interpretationlog_user_id_user FOREIGN KEY (user_id) REFERENCES "user" (id);

ALTER TABLE "user"
    ADD CONSTRAINT fk_user_group_id_usergroup FOREIGN KEY (group_id) REFERENCES usergroup (id);

ALTER TABLE usergroup
    ADD CONSTRAINT fk_usergroup_default_import_genepanel_name_genepanel
        FOREIGN KEY (default_import_genepanel_name, default_import_genepanel_version)
        REFERENCES genepanel (name, version);

ALTER TABLE usergroupgenepanel
    ADD CONSTRAINT fk_usergroupgenepanel_genepanel_name_genepanel
        FOREIGN KEY (genepanel_name, genepanel_version) REFERENCES genepanel (name, version),
    ADD CONSTRAINT fk_usergroupgenepanel_usergroup_id_usergroup
        FOREIGN KEY (usergroup_id) REFERENCES usergroup (id);

ALTER TABLE usergroupimport
    ADD CONSTRAINT fk_usergroupimport_usergroup_id_usergroup
        FOREIGN KEY (usergroup_id) REFERENCES usergroup (id),
    ADD CONSTRAINT fk_usergroupimport_usergroupimport_id_usergroup
        FOREIGN KEY (usergroupimport_id) REFERENCES usergroup (id);

ALTER TABLE usersession
    ADD CONSTRAINT fk_usersession_user_id_user FOREIGN KEY (user_id) REFERENCES "user" (id);

ALTER TABLE useroldpassword
    ADD CONSTRAINT fk_useroldpassword_user_id_user FOREIGN KEY (user_id) REFERENCES "user" (id);

ALTER TABLE resourcelog
    ADD CONSTRAINT fk_resourcelog_usersession_id_usersession
        FOREIGN KEY (usersession_id) REFERENCES usersession (id);

ALTER TABLE uiexception
    ADD CONSTRAINT fk_uiexception_usersession_id_usersession
        FOREIGN KEY (usersession_id) REFERENCES usersession (id);

-- The ELLA revision this schema corresponds to; ELLA's own `database compare` reads it.
INSERT INTO alembic_version (version_num) VALUES ('4c2844fef850');
